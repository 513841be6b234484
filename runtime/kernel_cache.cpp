#include "runtime/kernel_cache.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "runtime/jit.h"
#include "runtime/knobs.h"

namespace grokjit::runtime {

namespace {

constexpr char kMagic[4] = {'G', 'J', 'K', 'C'};

struct Header {
  char magic[4];
  uint32_t version;
  uint64_t size;
  uint64_t checksum;
  uint64_t reserved;
};
static_assert(sizeof(Header) == 32);

uint64_t fnv1a(const std::string& data) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : data) h = (h ^ c) * 1099511628211ULL;
  return h;
}

}  // namespace

std::string kernel_cache_key(const codegen::Kernel& k, const codegen::CpuEmitOptions& options) {
  const HostTarget& host = host_target();
  std::ostringstream os;
  os << "grokjit kernel cache v" << kKernelCacheVersion << "\n"
     << "llvm " << host.llvm_version << "\n"
     << "triple " << host.triple << "\n"
     << "cpu " << host.cpu << "\n"
     << "features " << host.features << "\n"
     << "options " << options.key() << " O3\n"
     << "symbol " << codegen::kernel_symbol(k) << "\n"
     << codegen::canonical_text(k);
  return codegen::hex_digest(os.str(), 64);
}

KernelCache::KernelCache(std::string dir) : dir_(std::move(dir)) {}

std::string KernelCache::default_dir() {
  if (cache_disabled()) return "";
  return cache_dir();
}

std::string KernelCache::path_of(const std::string& key) const { return dir_ + "/" + key + ".gjk"; }

void KernelCache::report_corrupt(const std::string& path, const std::string& why) {
  std::lock_guard<std::mutex> lock(mu_);
  ++corrupt_;
  if (reported_.insert(path).second)
    std::cerr << "grokjit: kernel cache entry " << path << " is corrupt (" << why << "); recompiling it\n";
}

std::optional<std::string> KernelCache::get(const std::string& key, const DefectCheck& defect) {
  if (!enabled()) return std::nullopt;
  std::string path = path_of(key);
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {  // opens, then fails to read; not ours to delete
    report_corrupt(path, "a directory, not an entry: left in place");
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Header h{};
  std::string why;
  if (data.size() < sizeof(Header)) {
    why = "shorter than its header";
  } else {
    std::memcpy(&h, data.data(), sizeof(Header));
    if (std::memcmp(h.magic, kMagic, 4) != 0) why = "bad magic";
    else if (h.version != kKernelCacheVersion) why = "format version " + std::to_string(h.version);
    else if (h.size != data.size() - sizeof(Header)) why = "truncated: " + std::to_string(data.size() - sizeof(Header)) + " of " + std::to_string(h.size) + " bytes";
  }
  std::string payload;
  if (why.empty()) {
    payload = data.substr(sizeof(Header));
    if (fnv1a(payload) != h.checksum) why = "checksum mismatch";
    else if (defect) why = defect(payload);
  }
  if (!why.empty()) {
    discard(key, why);
    return std::nullopt;
  }
  return payload;
}

void KernelCache::discard(const std::string& key, const std::string& why) {
  const std::string path = path_of(key);
  report_corrupt(path, why);
  std::error_code ec;
  std::filesystem::remove(path, ec);
}

void KernelCache::put(const std::string& key, const std::string& object) {
  if (!enabled()) return;
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  static std::atomic<uint64_t> counter{0};
  std::string tmp = dir_ + "/." + key + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  Header h{};
  std::memcpy(h.magic, kMagic, 4);
  h.version = kKernelCacheVersion;
  h.size = object.size();
  h.checksum = fnv1a(object);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) {  // a read-only cache is not an error: we just compile every time (and say so once)
      const std::string why = std::strerror(errno);
      static std::atomic<bool> warned{false};  // once per process, however many devices (sweep jobs)
      if (!warned.exchange(true))
        std::cerr << "grokjit: warning: kernel cache " << dir_ << " cannot be written (" << why
                  << "): compiled kernels are not saved for later runs\n";
      return;
    }
    out.write(reinterpret_cast<const char*>(&h), sizeof(h));
    out.write(object.data(), static_cast<std::streamsize>(object.size()));
    if (!out) {
      out.close();
      std::filesystem::remove(tmp, ec);
      return;
    }
  }
  std::filesystem::rename(tmp, path_of(key), ec);
  if (ec) std::filesystem::remove(tmp, ec);
}

}  // namespace grokjit::runtime
