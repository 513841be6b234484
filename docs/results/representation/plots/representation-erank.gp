# effective rank (energy) per layer (mean over seeds)
# Written by grokjit (runtime/plot.cpp); data in representation-erank.dat.
# Re-draw after editing: cd to this folder, then: gnuplot representation-erank.gp
set encoding utf8
set datafile missing '?'
set title 'effective rank (energy) per layer (mean over seeds)' noenhanced
set xlabel 'layer' noenhanced
set ylabel 'effective rank' noenhanced
set grid ytics lc rgb '#dddddd'
set key top left

set terminal svg size 800,500 dynamic font 'sans,11' background rgb 'white'
set termoption noenhanced
set output 'representation-erank.svg'
plot 'representation-erank.dat' index 0 using 1:2 with linespoints pt 7 ps 0.5 lw 2 lc rgb '#1f77b4' title 'adamw', \
     'representation-erank.dat' index 1 using 1:2 with linespoints pt 7 ps 0.5 lw 2 lc rgb '#d62728' title 'muon', \
     'representation-erank.dat' index 2 using 1:2 with linespoints pt 7 ps 0.5 lw 2 lc rgb '#2ca02c' title 'sgd'
if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
  set terminal pngcairo size 800,500 font 'sans,10' background rgb 'white'
} else {
  set terminal png size 800,500 background rgb 'white'
}
set termoption noenhanced
set output 'representation-erank.png'
plot 'representation-erank.dat' index 0 using 1:2 with linespoints pt 7 ps 0.5 lw 2 lc rgb '#1f77b4' title 'adamw', \
     'representation-erank.dat' index 1 using 1:2 with linespoints pt 7 ps 0.5 lw 2 lc rgb '#d62728' title 'muon', \
     'representation-erank.dat' index 2 using 1:2 with linespoints pt 7 ps 0.5 lw 2 lc rgb '#2ca02c' title 'sgd'
set output
