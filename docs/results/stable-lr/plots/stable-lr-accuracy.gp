# full-batch train accuracy at shared learning rates
# Written by grokjit (runtime/plot.cpp); data in stable-lr-accuracy.dat.
# Re-draw after editing: cd to this folder, then: gnuplot stable-lr-accuracy.gp
set encoding utf8
set datafile missing '?'
set title 'full-batch train accuracy at shared learning rates' noenhanced
set xlabel 'step' noenhanced
set ylabel 'train acc' noenhanced
set grid ytics lc rgb '#dddddd'
set key top left
set logscale x
set yrange [0:1.05]

set terminal svg size 800,500 dynamic font 'sans,11' background rgb 'white'
set termoption noenhanced
set output 'stable-lr-accuracy.svg'
plot 'stable-lr-accuracy.dat' index 0 using 1:2 with lines lw 2 lc rgb '#1f77b4' title 'sgd lr 0.01', \
     'stable-lr-accuracy.dat' index 1 using 1:2 with lines lw 2 lc rgb '#d62728' title 'sgd lr 0.05', \
     'stable-lr-accuracy.dat' index 2 using 1:2 with lines lw 2 lc rgb '#2ca02c' title 'sgd lr 0.2', \
     'stable-lr-accuracy.dat' index 3 using 1:2 with lines lw 2 lc rgb '#ff7f0e' dt 2 title 'muon lr 0.01', \
     'stable-lr-accuracy.dat' index 4 using 1:2 with lines lw 2 lc rgb '#9467bd' dt 2 title 'muon lr 0.05', \
     'stable-lr-accuracy.dat' index 5 using 1:2 with lines lw 2 lc rgb '#8c564b' dt 2 title 'muon lr 0.2'
if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
  set terminal pngcairo size 800,500 font 'sans,10' background rgb 'white'
} else {
  set terminal png size 800,500 background rgb 'white'
}
set termoption noenhanced
set output 'stable-lr-accuracy.png'
plot 'stable-lr-accuracy.dat' index 0 using 1:2 with lines lw 2 lc rgb '#1f77b4' title 'sgd lr 0.01', \
     'stable-lr-accuracy.dat' index 1 using 1:2 with lines lw 2 lc rgb '#d62728' title 'sgd lr 0.05', \
     'stable-lr-accuracy.dat' index 2 using 1:2 with lines lw 2 lc rgb '#2ca02c' title 'sgd lr 0.2', \
     'stable-lr-accuracy.dat' index 3 using 1:2 with lines lw 2 lc rgb '#ff7f0e' dt 2 title 'muon lr 0.01', \
     'stable-lr-accuracy.dat' index 4 using 1:2 with lines lw 2 lc rgb '#9467bd' dt 2 title 'muon lr 0.05', \
     'stable-lr-accuracy.dat' index 5 using 1:2 with lines lw 2 lc rgb '#8c564b' dt 2 title 'muon lr 0.2'
set output
