// Small file helpers shared by everything that reads or writes user files
// (specs, sweeps, checkpoints, summaries, results). Errors are grokjit::Error
// with ExitCode::Io, naming the file and what failed.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace grokjit::runtime {

// The most a JSON file grokjit reads whole (a spec, a sweep, a summary) may
// hold: real ones are kilobytes; the cap stops `grokjit train /dev/zero`.
inline constexpr size_t kMaxJsonFileBytes = size_t{64} << 20;

// The whole file; `what` names it in the error ("spec", "summary"). Longer
// than max_bytes: Error(Io), without reading further.
std::string read_text_file(const std::string& path, const char* what, size_t max_bytes = kMaxJsonFileBytes);

// Writes a temporary file next to `path`, fsyncs it and renames it into
// place (then fsyncs the folder): a reader never sees half a file, and a
// crash leaves the old file or the new one. A path that is not a regular
// file (a device, a pipe, a link such as /dev/stdout) is written through.
void write_file_atomically(const std::string& path, std::string_view bytes);

// Whether two paths name one file: existing ones by identity (links, "./a"
// and "a" alike), others (an output not yet written) by canonical spelling.
bool same_file(const std::string& a, const std::string& b);

// Creates `dir` and its parents where missing. Error(Io) naming `what` (an
// option such as "--out") and the path, with the reason in words: a file
// or a dangling link where a directory should be, or the system's error.
void create_output_directory(const std::string& dir, const std::string& what);

// Holds an advisory lock (flock) on DIR/.grokjit.lock while it lives, so
// that two processes never write one run directory at once (their metrics
// would interleave and one summary replace the other). Re-entrant within a
// process. Another process holding it: Error(Usage) naming its pid. DIR is
// created if missing. On a file system without flock, nothing is locked.
class DirectoryLock {
 public:
  explicit DirectoryLock(const std::string& dir);
  ~DirectoryLock();
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

 private:
  std::string key_;  // the directory's "device:inode"; "" = nothing held
};

// "2026-11-23T16:22:57Z"
std::string iso_utc_now();

}  // namespace grokjit::runtime
