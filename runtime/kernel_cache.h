// The on-disk cache of compiled kernels (object code).
//
// Location: $GROKJIT_CACHE_DIR, else $XDG_CACHE_HOME/grokjit, else
// ~/.cache/grokjit (runtime/knobs.h); GROKJIT_NO_CACHE=1 turns it off.
// Key: SHA-256 of everything that changes the binary (kernel_cache_key()).
// Entry: <dir>/<key>.gjk = a 32-byte header (magic "GJKC", format version,
// payload size, payload checksum) followed by the object file. Writes go to
// a temporary file in the same directory and are renamed into place, so a
// reader never sees half an entry. A corrupt or truncated entry is reported
// once on stderr (with its path), removed and recompiled.
#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "codegen/kernel_ir.h"
#include "codegen/llvm_emit.h"

namespace grokjit::runtime {

constexpr uint32_t kKernelCacheVersion = 1;  // bump when the entry format or key recipe changes

// The cache key of a kernel compiled for the host with these options.
std::string kernel_cache_key(const codegen::Kernel& k, const codegen::CpuEmitOptions& options);

class KernelCache {
 public:
  // dir = "" disables the cache.
  explicit KernelCache(std::string dir);
  // The directory from the knobs ("" when GROKJIT_NO_CACHE is set).
  static std::string default_dir();

  bool enabled() const { return !dir_.empty(); }
  const std::string& dir() const { return dir_; }
  std::string path_of(const std::string& key) const;

  // The entry's payload, if there is a whole one that `defect` (when given)
  // finds nothing wrong with: it returns "" or why the payload cannot be the
  // kernel's (a checksum holds for a swapped or rewritten entry too). A bad
  // entry is reported once, removed, and nullopt returned: recompile.
  using DefectCheck = std::function<std::string(const std::string& payload)>;
  std::optional<std::string> get(const std::string& key, const DefectCheck& defect = {});
  void put(const std::string& key, const std::string& object);

  size_t corrupt_entries() const { return corrupt_; }

 private:
  void report_corrupt(const std::string& path, const std::string& why);
  void discard(const std::string& key, const std::string& why);

  std::string dir_;
  std::mutex mu_;
  std::set<std::string> reported_;
  size_t corrupt_ = 0;
};

}  // namespace grokjit::runtime
