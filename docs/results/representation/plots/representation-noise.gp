# validation accuracy under embedding noise (mean over seeds)
# Written by grokjit (runtime/plot.cpp); data in representation-noise.dat.
# Re-draw after editing: cd to this folder, then: gnuplot representation-noise.gp
set encoding utf8
set datafile missing '?'
set title 'validation accuracy under embedding noise (mean over seeds)' noenhanced
set xlabel 'noise σ (relative to rms)' noenhanced
set ylabel 'val acc' noenhanced
set grid ytics lc rgb '#dddddd'
set key bottom left
set logscale x
set yrange [0:1.05]

set terminal svg size 800,500 dynamic font 'sans,11' background rgb 'white'
set termoption noenhanced
set output 'representation-noise.svg'
plot 'representation-noise.dat' index 0 using 1:2 with linespoints pt 7 ps 0.5 lw 2 lc rgb '#1f77b4' title 'adamw', \
     'representation-noise.dat' index 1 using 1:2 with linespoints pt 7 ps 0.5 lw 2 lc rgb '#d62728' title 'muon', \
     'representation-noise.dat' index 2 using 1:2 with linespoints pt 7 ps 0.5 lw 2 lc rgb '#2ca02c' title 'sgd'
if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
  set terminal pngcairo size 800,500 font 'sans,10' background rgb 'white'
} else {
  set terminal png size 800,500 background rgb 'white'
}
set termoption noenhanced
set output 'representation-noise.png'
plot 'representation-noise.dat' index 0 using 1:2 with linespoints pt 7 ps 0.5 lw 2 lc rgb '#1f77b4' title 'adamw', \
     'representation-noise.dat' index 1 using 1:2 with linespoints pt 7 ps 0.5 lw 2 lc rgb '#d62728' title 'muon', \
     'representation-noise.dat' index 2 using 1:2 with linespoints pt 7 ps 0.5 lw 2 lc rgb '#2ca02c' title 'sgd'
set output
