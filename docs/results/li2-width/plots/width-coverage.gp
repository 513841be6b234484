# final Fourier coverage vs hidden width K (dashed: K = (M-1)/2)
# Written by grokjit (runtime/plot.cpp); data in width-coverage.dat.
# Re-draw after editing: cd to this folder, then: gnuplot width-coverage.gp
set encoding utf8
set datafile missing '?'
set title 'final Fourier coverage vs hidden width K (dashed: K = (M-1)/2)' noenhanced
set xlabel 'K' noenhanced
set ylabel 'coverage' noenhanced
set grid ytics lc rgb '#dddddd'
set key bottom right
set yrange [0:1.05]

set terminal svg size 800,500 dynamic font 'sans,11' background rgb 'white'
set termoption noenhanced
set output 'width-coverage.svg'
plot 'width-coverage.dat' index 0 using 1:2 with linespoints pt 7 ps 0.5 lw 2 lc rgb '#1f77b4' title 'adam (lr 0.01)', \
     'width-coverage.dat' index 1 using 1:2 with linespoints pt 7 ps 0.5 lw 2 lc rgb '#d62728' title 'muon (lr 0.03)', \
     'width-coverage.dat' index 2 using 1:2 with linespoints pt 7 ps 0.5 lw 2 lc rgb '#2ca02c' title 'sgd (lr 0.3)', \
     'width-coverage.dat' index 3 using 1:2 with lines lw 2 lc rgb '#ff7f0e' dt 2 title 'K = (M-1)/2'
if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
  set terminal pngcairo size 800,500 font 'sans,10' background rgb 'white'
} else {
  set terminal png size 800,500 background rgb 'white'
}
set termoption noenhanced
set output 'width-coverage.png'
plot 'width-coverage.dat' index 0 using 1:2 with linespoints pt 7 ps 0.5 lw 2 lc rgb '#1f77b4' title 'adam (lr 0.01)', \
     'width-coverage.dat' index 1 using 1:2 with linespoints pt 7 ps 0.5 lw 2 lc rgb '#d62728' title 'muon (lr 0.03)', \
     'width-coverage.dat' index 2 using 1:2 with linespoints pt 7 ps 0.5 lw 2 lc rgb '#2ca02c' title 'sgd (lr 0.3)', \
     'width-coverage.dat' index 3 using 1:2 with lines lw 2 lc rgb '#ff7f0e' dt 2 title 'K = (M-1)/2'
set output
