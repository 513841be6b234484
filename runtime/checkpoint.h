// Checkpoints: every parameter and optimizer-state tensor in one safetensors
// file (readable by the Python safetensors package), plus the loop position
// in its metadata. Written atomically; loading validates every tensor against
// the program's expectations and names what does not match.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "runtime/device.h"
#include "runtime/step_graph.h"

namespace grokjit::runtime {

struct CheckpointState {
  int64_t epoch = 1;        // the epoch to run next (from 1)
  int64_t next_batch = 0;   // first batch of that epoch not yet run
  int64_t step = 0;         // optimizer steps done
  double running_loss = 0, running_correct = 0;  // sums over the epoch's batches so far
  int64_t memorization_epoch = -1, grokking_epoch = -1;
  double elapsed_seconds = 0;
  std::string config_json;  // the resolved config the run was started with
};

using PersistentBuffers = std::map<std::string, std::unique_ptr<Buffer>>;

void save_checkpoint_file(const std::string& path, const CheckpointState& state, const StepGraphs& graphs,
                          const PersistentBuffers& buffers);

// Fills `buffers` (which must already hold every param and state tensor) and
// returns the loop position. Throws Error(ExitCode::Io) naming the file and
// tensor on a missing, truncated, corrupt or mismatching checkpoint.
// `check_config` sees the config the checkpoint was written for before any
// tensor is checked (a run of another config is that, not a corrupt file).
CheckpointState load_checkpoint_file(const std::string& path, const StepGraphs& graphs, PersistentBuffers& buffers,
                                     const std::function<void(const std::string& config_json)>& check_config = {});

}  // namespace grokjit::runtime
