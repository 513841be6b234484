# Fourier coverage of the hidden nodes
# Written by grokjit (runtime/plot.cpp); data in wd-coverage.dat.
# Re-draw after editing: cd to this folder, then: gnuplot wd-coverage.gp
set encoding utf8
set datafile missing '?'
set title 'Fourier coverage of the hidden nodes' noenhanced
set xlabel 'epoch' noenhanced
set ylabel 'coverage' noenhanced
set grid ytics lc rgb '#dddddd'
set key top left

set terminal svg size 800,500 dynamic font 'sans,11' background rgb 'white'
set termoption noenhanced
set output 'wd-coverage.svg'
plot 'wd-coverage.dat' index 0 using 1:2 with lines lw 2 lc rgb '#1f77b4' title 'wd 0 seed 0', \
     'wd-coverage.dat' index 1 using 1:2 with lines lw 2 lc rgb '#1f77b4' dt 2 title 'wd 0 seed 1', \
     'wd-coverage.dat' index 2 using 1:2 with lines lw 2 lc rgb '#1f77b4' dt 2 title 'wd 0 seed 2', \
     'wd-coverage.dat' index 3 using 1:2 with lines lw 2 lc rgb '#d62728' title 'wd 0.0001 seed 0', \
     'wd-coverage.dat' index 4 using 1:2 with lines lw 2 lc rgb '#d62728' dt 2 title 'wd 0.0001 seed 1', \
     'wd-coverage.dat' index 5 using 1:2 with lines lw 2 lc rgb '#d62728' dt 2 title 'wd 0.0001 seed 2'
if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
  set terminal pngcairo size 800,500 font 'sans,10' background rgb 'white'
} else {
  set terminal png size 800,500 background rgb 'white'
}
set termoption noenhanced
set output 'wd-coverage.png'
plot 'wd-coverage.dat' index 0 using 1:2 with lines lw 2 lc rgb '#1f77b4' title 'wd 0 seed 0', \
     'wd-coverage.dat' index 1 using 1:2 with lines lw 2 lc rgb '#1f77b4' dt 2 title 'wd 0 seed 1', \
     'wd-coverage.dat' index 2 using 1:2 with lines lw 2 lc rgb '#1f77b4' dt 2 title 'wd 0 seed 2', \
     'wd-coverage.dat' index 3 using 1:2 with lines lw 2 lc rgb '#d62728' title 'wd 0.0001 seed 0', \
     'wd-coverage.dat' index 4 using 1:2 with lines lw 2 lc rgb '#d62728' dt 2 title 'wd 0.0001 seed 1', \
     'wd-coverage.dat' index 5 using 1:2 with lines lw 2 lc rgb '#d62728' dt 2 title 'wd 0.0001 seed 2'
set output
