# final validation accuracy (mean over seeds)
# Written by grokjit (runtime/plot.cpp); data in pstar-heat.dat.
# Re-draw after editing: cd to this folder, then: gnuplot pstar-heat.gp
set encoding utf8
set datafile missing '?'
set title 'final validation accuracy (mean over seeds)' noenhanced
set xlabel 'train fraction' noenhanced
set ylabel 'M' noenhanced
set grid ytics lc rgb '#dddddd'
unset grid
set xrange [-0.5:9.5]
set yrange [-0.5:3.5]
set xtics ('0.1' 0, '0.2' 1, '0.25' 2, '0.3' 3, '0.35' 4, '0.4' 5, '0.45' 6, '0.5' 7, '0.55' 8, '0.6' 9) scale 0
set ytics ('23' 0, '31' 1, '41' 2, '47' 3) scale 0
set palette defined (0 '#ffffcc', 1 '#a1dab4', 2 '#41b6c4', 3 '#2c7fb8')
set cblabel 'val acc' noenhanced
# grey where there is no data
set object 1 rectangle from graph 0,0 to graph 1,1 behind fillcolor rgb '#cccccc' fillstyle solid
set key off

set terminal svg size 800,500 dynamic font 'sans,11' background rgb 'white'
set termoption noenhanced
set output 'pstar-heat.svg'
plot 'pstar-heat.dat' using 1:2:(0.5):(0.5):3 with boxxyerror fillstyle solid fillcolor palette, \
     'pstar-heat.dat' using 1:2:4 with labels font ',10'
if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
  set terminal pngcairo size 800,500 font 'sans,10' background rgb 'white'
} else {
  set terminal png size 800,500 background rgb 'white'
}
set termoption noenhanced
set output 'pstar-heat.png'
plot 'pstar-heat.dat' using 1:2:(0.5):(0.5):3 with boxxyerror fillstyle solid fillcolor palette, \
     'pstar-heat.dat' using 1:2:4 with labels font ',10'
set output
