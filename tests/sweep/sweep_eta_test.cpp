// The sweep's ETA (runtime/sweep_eta.h): the typical figure and the worst case
// (every run left trains to its cap), checked against hand-worked figures.
#include "runtime/sweep_eta.h"

#include <gtest/gtest.h>

namespace grokjit::runtime {
namespace {

void train_epochs(SweepEta& eta, const std::string& id, int64_t from, int64_t to) {
  for (int64_t e = from; e <= to; ++e) eta.epoch_done(id, e);
}

TEST(SweepEta, UnknownUntilARunFinishes) {
  SweepEta eta(2);
  eta.add_run("a", 100);
  train_epochs(eta, "a", 1, 5);
  EXPECT_EQ(eta.describe(), "ETA unknown yet");
  EXPECT_EQ(eta.typical_seconds(), 0);
  EXPECT_EQ(eta.worst_seconds(), 0);
}

// Run a groks and stops at epoch 20 after 40 s: 40 s per run, 2 s per epoch.
// b is at epoch 10 of 100, c has not started: typical 2 runs x 40 s / 2 jobs,
// worst (90 + 100) epochs x 2 s / 2 jobs.
TEST(SweepEta, TypicalFromRunTimesWorstFromEpochsToTheCap) {
  SweepEta eta(2);
  eta.add_run("a", 100);
  eta.add_run("b", 100);
  eta.add_run("c", 100);
  train_epochs(eta, "a", 1, 20);
  train_epochs(eta, "b", 1, 10);
  eta.run_finished("a", 40);
  EXPECT_EQ(eta.runs_left(), 2u);
  EXPECT_DOUBLE_EQ(eta.typical_seconds(), 40);
  EXPECT_DOUBLE_EQ(eta.worst_seconds(), 190);
  EXPECT_EQ(eta.describe(), "ETA 40.0s (3m10s if none of them groks)");
}

// A resumed run's earlier epochs were not trained in this process: they count
// neither in the time per epoch nor in what is left.
TEST(SweepEta, ResumedRunsCountOnlyTheEpochsTrainedHere) {
  SweepEta eta(1);
  eta.add_run("resumed", 1000);
  eta.add_run("next", 1000);
  train_epochs(eta, "resumed", 901, 1000);  // 100 epochs here, in 50 s
  eta.run_finished("resumed", 50);
  EXPECT_DOUBLE_EQ(eta.worst_seconds(), 1000 * 0.5);
  EXPECT_DOUBLE_EQ(eta.typical_seconds(), 50);
}

// Runs left near their caps: the mean run time would overstate what is left.
TEST(SweepEta, TypicalNeverAboveTheWorstCase) {
  SweepEta eta(1);
  eta.add_run("a", 100);
  eta.add_run("b", 100);
  train_epochs(eta, "a", 1, 100);
  eta.run_finished("a", 100);
  train_epochs(eta, "b", 1, 95);
  EXPECT_DOUBLE_EQ(eta.worst_seconds(), 5);
  EXPECT_DOUBLE_EQ(eta.typical_seconds(), 5);
}

// Every run left already at its cap: nothing is left to train, whatever the
// finished runs took.
TEST(SweepEta, NothingLeftWhenEveryRunLeftIsAtItsCap) {
  SweepEta eta(1);
  eta.add_run("a", 100);
  eta.add_run("b", 100);
  train_epochs(eta, "a", 1, 20);
  eta.run_finished("a", 40);
  train_epochs(eta, "b", 1, 100);
  EXPECT_EQ(eta.worst_seconds(), 0);
  EXPECT_EQ(eta.typical_seconds(), 0);
}

TEST(SweepEta, RunsFinishedEarlierAreNotCounted) {
  SweepEta eta(1);
  eta.add_run("adopted", 100);
  eta.add_run("a", 100);
  eta.add_run("b", 100);
  eta.drop_run("adopted");
  train_epochs(eta, "a", 1, 10);
  eta.run_finished("a", 30);
  EXPECT_EQ(eta.runs_left(), 1u);
  EXPECT_DOUBLE_EQ(eta.typical_seconds(), 30);
  EXPECT_DOUBLE_EQ(eta.worst_seconds(), 300);
  eta.run_finished("b", 10);
  EXPECT_EQ(eta.describe(), "ETA 0s");
}

TEST(SweepEta, Durations) {
  EXPECT_EQ(format_duration(12.34), "12.3s");
  EXPECT_EQ(format_duration(224), "3m44s");
  EXPECT_EQ(format_duration(7500), "2h05m");
}

}  // namespace
}  // namespace grokjit::runtime
