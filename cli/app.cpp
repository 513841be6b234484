#include "cli/app.h"

#include <cstdio>

namespace grokjit::cli {
int run_main(int, char**) {
  std::puts("grokjit: under construction");
  return 0;
}
}  // namespace grokjit::cli
