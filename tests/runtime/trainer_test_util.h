// Helpers of the training-loop tests (trainer_test.cpp, pack_test.cpp).
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/trainer.h"

namespace grokjit::runtime::trainer_testing {

// An empty temporary directory named after the test and this process.
inline std::filesystem::path fresh_dir(const std::string& prefix, const std::string& name) {
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("grokjit_" + prefix + "_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir;
}

inline TrainOptions quiet_options(const std::filesystem::path& dir) {
  TrainOptions o;
  o.out_dir = dir.string();
  o.quiet = true;
  return o;
}

// Metric lines without the wall-clock fields.
inline std::vector<nlohmann::json> metric_lines(const std::filesystem::path& dir) {
  std::vector<nlohmann::json> out;
  std::ifstream in(dir / "metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line);
    j.erase("step_ms");
    j.erase("epoch_s");
    out.push_back(j);
  }
  return out;
}

}  // namespace grokjit::runtime::trainer_testing
