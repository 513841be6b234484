# Median grokking epoch (Kaplan-Meier), add/softmax/adamw; cells: median (grokked/runs)
# Written by grokjit (runtime/plot.cpp); data in heat-add-softmax-adamw.dat.
# Re-draw after editing: cd to this folder, then: gnuplot heat-add-softmax-adamw.gp
set encoding utf8
set datafile missing '?'
set title 'Median grokking epoch (Kaplan-Meier), add/softmax/adamw; cells: median (grokked/runs)' noenhanced
set xlabel 'lr' noenhanced
set ylabel 'wd' noenhanced
set grid ytics lc rgb '#dddddd'
unset grid
set xrange [-0.5:3.5]
set yrange [-0.5:3.5]
set xtics ('0.0003' 0, '0.001' 1, '0.003' 2, '0.01' 3) scale 0
set ytics ('0.1' 0, '0.3' 1, '1' 2, '3' 3) scale 0
set palette defined (0 '#ffffcc', 1 '#a1dab4', 2 '#41b6c4', 3 '#2c7fb8')
set cblabel 'KM median grokking epoch' noenhanced
# grey where there is no data
set object 1 rectangle from graph 0,0 to graph 1,1 behind fillcolor rgb '#cccccc' fillstyle solid
set key off

set terminal svg size 800,500 dynamic font 'sans,11' background rgb 'white'
set termoption noenhanced
set output 'heat-add-softmax-adamw.svg'
plot 'heat-add-softmax-adamw.dat' using 1:2:(0.5):(0.5):3 with boxxyerror fillstyle solid fillcolor palette, \
     'heat-add-softmax-adamw.dat' using 1:2:4 with labels font ',10'
if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
  set terminal pngcairo size 800,500 font 'sans,10' background rgb 'white'
} else {
  set terminal png size 800,500 background rgb 'white'
}
set termoption noenhanced
set output 'heat-add-softmax-adamw.png'
plot 'heat-add-softmax-adamw.dat' using 1:2:(0.5):(0.5):3 with boxxyerror fillstyle solid fillcolor palette, \
     'heat-add-softmax-adamw.dat' using 1:2:4 with labels font ',10'
set output
