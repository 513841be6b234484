# final test loss vs hidden width K (dashed: K = (M-1)/2)
# Written by grokjit (runtime/plot.cpp); data in width-loss.dat.
# Re-draw after editing: cd to this folder, then: gnuplot width-loss.gp
set encoding utf8
set datafile missing '?'
set title 'final test loss vs hidden width K (dashed: K = (M-1)/2)' noenhanced
set xlabel 'K' noenhanced
set ylabel 'val loss' noenhanced
set grid ytics lc rgb '#dddddd'
set key top right
set logscale y

set terminal svg size 800,500 dynamic font 'sans,11' background rgb 'white'
set termoption noenhanced
set output 'width-loss.svg'
plot 'width-loss.dat' index 0 using 1:2 with linespoints pt 7 ps 0.5 lw 2 lc rgb '#1f77b4' title 'adam (lr 0.01)', \
     'width-loss.dat' index 1 using 1:2 with linespoints pt 7 ps 0.5 lw 2 lc rgb '#d62728' title 'muon (lr 0.03)', \
     'width-loss.dat' index 2 using 1:2 with linespoints pt 7 ps 0.5 lw 2 lc rgb '#2ca02c' title 'sgd (lr 0.3)', \
     'width-loss.dat' index 3 using 1:2 with lines lw 2 lc rgb '#ff7f0e' dt 2 title 'K = (M-1)/2'
if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
  set terminal pngcairo size 800,500 font 'sans,10' background rgb 'white'
} else {
  set terminal png size 800,500 background rgb 'white'
}
set termoption noenhanced
set output 'width-loss.png'
plot 'width-loss.dat' index 0 using 1:2 with linespoints pt 7 ps 0.5 lw 2 lc rgb '#1f77b4' title 'adam (lr 0.01)', \
     'width-loss.dat' index 1 using 1:2 with linespoints pt 7 ps 0.5 lw 2 lc rgb '#d62728' title 'muon (lr 0.03)', \
     'width-loss.dat' index 2 using 1:2 with linespoints pt 7 ps 0.5 lw 2 lc rgb '#2ca02c' title 'sgd (lr 0.3)', \
     'width-loss.dat' index 3 using 1:2 with lines lw 2 lc rgb '#ff7f0e' dt 2 title 'K = (M-1)/2'
set output
