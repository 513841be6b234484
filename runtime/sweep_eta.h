#pragma once
// The sweep's ETA. Run times are heavy-tailed: a run that groks stops a few
// epochs later, one that never does trains to its epoch cap, 10-50x longer.
// So the ETA gives two figures: the typical one (the finished runs' mean time
// for every run left) and the worst case (every unfinished run trains to its
// cap, at the time per epoch measured so far).
//
// Not thread-safe: the sweep calls it under its own lock.

#include <cstdint>
#include <map>
#include <string>

namespace grokjit::runtime {

// "2h05m", "3m44s", "12.5s".
std::string format_duration(double seconds);

class SweepEta {
 public:
  explicit SweepEta(int jobs) : jobs_(jobs < 1 ? 1 : jobs) {}

  // A run still to train (pending or in flight), with its epoch cap.
  void add_run(const std::string& id, int64_t max_epochs);
  // Run `id` needs no training (it had finished in an earlier sweep).
  void drop_run(const std::string& id) { runs_.erase(id); }
  // Epoch `epoch` (counted from 1, resumed runs included) of run `id` ended.
  void epoch_done(const std::string& id, int64_t epoch);
  // Run `id` finished after `wall_seconds` in this process (its share of a
  // pack's time for a pack).
  void run_finished(const std::string& id, double wall_seconds);

  size_t runs_left() const { return runs_.size(); }
  // The finished runs' mean time x the runs left / jobs, at most the worst
  // case; 0 before any finished.
  double typical_seconds() const;
  // Each unfinished run's epochs up to its cap (the whole cap when it has not
  // reported an epoch yet) x the seconds per epoch of the finished runs /
  // jobs; 0 before any finished run trained an epoch. With packs the seconds
  // per epoch run high: a pack's time is shared by its runs, but a run that
  // stopped (grokked) reports no more epochs while the pack goes on.
  double worst_seconds() const;
  // "ETA 16m49s (3h10m if none of them groks)" (or "ETA unknown yet").
  std::string describe() const;

 private:
  struct Run {
    int64_t max_epochs = 0;
    int64_t last_epoch = 0;         // the latest epoch reported, 0 = none yet
    int64_t epochs_trained = 0;     // in this process (a resumed run's earlier epochs excluded)
  };
  int jobs_;
  std::map<std::string, Run> runs_;  // unfinished runs
  size_t finished_runs_ = 0;
  double finished_wall_ = 0;
  int64_t finished_epochs_ = 0;      // epochs the finished runs trained in this process
};

}  // namespace grokjit::runtime
