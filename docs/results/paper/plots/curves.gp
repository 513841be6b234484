# Accuracy of chosen runs (dashed: train, solid: validation)
# Written by grokjit (runtime/plot.cpp); data in curves.dat.
# Re-draw after editing: cd to this folder, then: gnuplot curves.gp
set encoding utf8
set datafile missing '?'
set title 'Accuracy of chosen runs (dashed: train, solid: validation)' noenhanced
set xlabel 'epoch' noenhanced
set ylabel 'accuracy' noenhanced
set grid ytics lc rgb '#dddddd'
set key bottom right
set yrange [0:1.02]

set terminal svg size 800,500 dynamic font 'sans,11' background rgb 'white'
set termoption noenhanced
set output 'curves.svg'
plot 'curves.dat' index 0 using 1:2 with lines lw 2 lc rgb '#1f77b4' dt 2 title 'mul-adamw.sparsemax.seed2-dd8c0404 train', \
     'curves.dat' index 1 using 1:2 with lines lw 2 lc rgb '#1f77b4' title 'mul-adamw.sparsemax.seed2-dd8c0404 val'
if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
  set terminal pngcairo size 800,500 font 'sans,10' background rgb 'white'
} else {
  set terminal png size 800,500 background rgb 'white'
}
set termoption noenhanced
set output 'curves.png'
plot 'curves.dat' index 0 using 1:2 with lines lw 2 lc rgb '#1f77b4' dt 2 title 'mul-adamw.sparsemax.seed2-dd8c0404 train', \
     'curves.dat' index 1 using 1:2 with lines lw 2 lc rgb '#1f77b4' title 'mul-adamw.sparsemax.seed2-dd8c0404 val'
set output
