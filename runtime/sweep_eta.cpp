#include "runtime/sweep_eta.h"

#include <algorithm>
#include <cstdio>

namespace grokjit::runtime {

std::string format_duration(double seconds) {
  char text[32];
  const long s = static_cast<long>(seconds + 0.5);
  if (s >= 3600) std::snprintf(text, sizeof text, "%ldh%02ldm", s / 3600, s / 60 % 60);
  else if (s >= 60) std::snprintf(text, sizeof text, "%ldm%02lds", s / 60, s % 60);
  else std::snprintf(text, sizeof text, "%.1fs", seconds);
  return text;
}

void SweepEta::add_run(const std::string& id, int64_t max_epochs) { runs_[id] = Run{std::max<int64_t>(0, max_epochs)}; }

void SweepEta::epoch_done(const std::string& id, int64_t epoch) {
  const auto it = runs_.find(id);
  if (it == runs_.end()) return;
  it->second.last_epoch = epoch;
  ++it->second.epochs_trained;
}

void SweepEta::run_finished(const std::string& id, double wall_seconds) {
  const auto it = runs_.find(id);
  if (it == runs_.end()) return;
  ++finished_runs_;
  finished_wall_ += wall_seconds;
  finished_epochs_ += it->second.epochs_trained;
  runs_.erase(it);
}

double SweepEta::typical_seconds() const {
  if (finished_runs_ == 0) return 0;
  const double mean = finished_wall_ / static_cast<double>(finished_runs_) * static_cast<double>(runs_.size()) / jobs_;
  // The runs left may be near their caps already: then the worst case is the better guess.
  return finished_epochs_ > 0 ? std::min(mean, worst_seconds()) : mean;
}

double SweepEta::worst_seconds() const {
  if (finished_epochs_ == 0) return 0;
  int64_t epochs_left = 0;
  for (const auto& [id, run] : runs_) epochs_left += std::max<int64_t>(0, run.max_epochs - run.last_epoch);
  return finished_wall_ / static_cast<double>(finished_epochs_) * static_cast<double>(epochs_left) / jobs_;
}

std::string SweepEta::describe() const {
  if (runs_.empty()) return "ETA 0s";
  if (finished_runs_ == 0) return "ETA unknown yet";
  std::string text = "ETA " + format_duration(typical_seconds());
  if (finished_epochs_ > 0) text += " (" + format_duration(worst_seconds()) + " if none of them groks)";
  return text;
}

}  // namespace grokjit::runtime
