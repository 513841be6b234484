#include "cli/app.h"

int main(int argc, char** argv) { return grokjit::cli::run_main(argc, argv); }
