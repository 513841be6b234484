# sgd: full-batch loss while searching the learning rate (dashed: diverged)
# Written by grokjit (runtime/plot.cpp); data in stable-lr-loss-sgd.dat.
# Re-draw after editing: cd to this folder, then: gnuplot stable-lr-loss-sgd.gp
set encoding utf8
set datafile missing '?'
set title 'sgd: full-batch loss while searching the learning rate (dashed: diverged)' noenhanced
set xlabel 'step' noenhanced
set ylabel 'loss' noenhanced
set grid ytics lc rgb '#dddddd'
set key top right
set logscale y

set terminal svg size 800,500 dynamic font 'sans,11' background rgb 'white'
set termoption noenhanced
set output 'stable-lr-loss-sgd.svg'
plot 'stable-lr-loss-sgd.dat' index 0 using 1:2 with lines lw 2 lc rgb '#1f77b4' title 'lr 0.001', \
     'stable-lr-loss-sgd.dat' index 1 using 1:2 with lines lw 2 lc rgb '#d62728' title 'lr 0.002', \
     'stable-lr-loss-sgd.dat' index 2 using 1:2 with lines lw 2 lc rgb '#2ca02c' title 'lr 0.005', \
     'stable-lr-loss-sgd.dat' index 3 using 1:2 with lines lw 2 lc rgb '#ff7f0e' title 'lr 0.01', \
     'stable-lr-loss-sgd.dat' index 4 using 1:2 with lines lw 2 lc rgb '#9467bd' title 'lr 0.02', \
     'stable-lr-loss-sgd.dat' index 5 using 1:2 with lines lw 2 lc rgb '#8c564b' title 'lr 0.05', \
     'stable-lr-loss-sgd.dat' index 6 using 1:2 with lines lw 2 lc rgb '#e377c2' title 'lr 0.1', \
     'stable-lr-loss-sgd.dat' index 7 using 1:2 with lines lw 2 lc rgb '#7f7f7f' title 'lr 0.2', \
     'stable-lr-loss-sgd.dat' index 8 using 1:2 with lines lw 2 lc rgb '#bcbd22' title 'lr 0.5', \
     'stable-lr-loss-sgd.dat' index 9 using 1:2 with lines lw 2 lc rgb '#17becf' title 'lr 1', \
     'stable-lr-loss-sgd.dat' index 10 using 1:2 with lines lw 2 lc rgb '#1f77b4' title 'lr 2', \
     'stable-lr-loss-sgd.dat' index 11 using 1:2 with lines lw 2 lc rgb '#d62728' title 'lr 5', \
     'stable-lr-loss-sgd.dat' index 12 using 1:2 with lines lw 2 lc rgb '#2ca02c' dt 2 title 'lr 10'
if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
  set terminal pngcairo size 800,500 font 'sans,10' background rgb 'white'
} else {
  set terminal png size 800,500 background rgb 'white'
}
set termoption noenhanced
set output 'stable-lr-loss-sgd.png'
plot 'stable-lr-loss-sgd.dat' index 0 using 1:2 with lines lw 2 lc rgb '#1f77b4' title 'lr 0.001', \
     'stable-lr-loss-sgd.dat' index 1 using 1:2 with lines lw 2 lc rgb '#d62728' title 'lr 0.002', \
     'stable-lr-loss-sgd.dat' index 2 using 1:2 with lines lw 2 lc rgb '#2ca02c' title 'lr 0.005', \
     'stable-lr-loss-sgd.dat' index 3 using 1:2 with lines lw 2 lc rgb '#ff7f0e' title 'lr 0.01', \
     'stable-lr-loss-sgd.dat' index 4 using 1:2 with lines lw 2 lc rgb '#9467bd' title 'lr 0.02', \
     'stable-lr-loss-sgd.dat' index 5 using 1:2 with lines lw 2 lc rgb '#8c564b' title 'lr 0.05', \
     'stable-lr-loss-sgd.dat' index 6 using 1:2 with lines lw 2 lc rgb '#e377c2' title 'lr 0.1', \
     'stable-lr-loss-sgd.dat' index 7 using 1:2 with lines lw 2 lc rgb '#7f7f7f' title 'lr 0.2', \
     'stable-lr-loss-sgd.dat' index 8 using 1:2 with lines lw 2 lc rgb '#bcbd22' title 'lr 0.5', \
     'stable-lr-loss-sgd.dat' index 9 using 1:2 with lines lw 2 lc rgb '#17becf' title 'lr 1', \
     'stable-lr-loss-sgd.dat' index 10 using 1:2 with lines lw 2 lc rgb '#1f77b4' title 'lr 2', \
     'stable-lr-loss-sgd.dat' index 11 using 1:2 with lines lw 2 lc rgb '#d62728' title 'lr 5', \
     'stable-lr-loss-sgd.dat' index 12 using 1:2 with lines lw 2 lc rgb '#2ca02c' dt 2 title 'lr 10'
set output
