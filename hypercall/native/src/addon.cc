// rumpnet_native: the host operations Node itself does not offer.
//
//   mapFile(path, size) -> ArrayBuffer   a shared, read-write mmap of a file
//   cas32(buf, off, expect, value)       atomic compare-and-swap of a u32, old value back
//   store32(buf, off, value)             atomic store of a u32 (seq_cst: full barrier)
//   unmap(buf)                           munmap now and detach the ArrayBuffer
//   sockBuf(fd, bytes?) -> [snd, rcv]    SO_SNDBUF and SO_RCVBUF of a socket Node
//                                        opened (a sysproxy connection): set, then read
//
// The shmif bus (NetBSD bus version 3) lives in a file that every attached
// kernel, in this process or another, maps MAP_SHARED; its lock is a u32 taken
// with compare-and-swap. Plain typed-array stores give no ordering guarantee
// against another process, so the lock word goes through the __atomic builtins.
//
// Errors: a JS Error shaped like Node's own fs errors (`code` is the errno
// name, `errno` its negative number, `syscall`, `path`), so callers handle
// `err.code === 'EACCES'` exactly as they would from `fs`.
//
// The TAP functions (tapOpen, tapReadStart, tapReadStop, tapWrite, tapClose:
// /dev/net/tun with IFF_TAP | IFF_NO_PI, a non-blocking fd read through a
// uv_poll_t handle, batched reads and writes on the main thread) live in
// tap.cc and are registered by InitTap.

#include <napi.h>

#include "errors.h"
#include <uv.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

namespace rumpnet {
void InitTap(Napi::Env env, Napi::Object exports);
}

namespace {

// One live mapping. The ArrayBuffer's finalizer owns it; unmap() may release
// the memory earlier, after which the finalizer only frees this record.
struct Mapping {
  void* addr;
  size_t len;
  bool unmapped;
};

// Live mappings by address, so unmap(buf) can find the record of a buffer.
// Mappings are process-wide (worker threads share them), hence the mutex.
std::mutex g_live_lock;
std::unordered_map<void*, Mapping*> g_live;

Napi::Value ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string& path) {
  rumpnet::SyscallError(env, err, syscall, path).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowType(Napi::Env env, const char* msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowRange(Napi::Env env, const std::string& msg) {
  Napi::RangeError::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

void FinalizeMapping(Napi::Env, void*, Mapping* m) {
  {
    std::lock_guard<std::mutex> g(g_live_lock);
    if (!m->unmapped) {
      munmap(m->addr, m->len);
      m->unmapped = true;
      auto it = g_live.find(m->addr);
      if (it != g_live.end() && it->second == m) g_live.erase(it);
    }
  }
  delete m;
}

Napi::Value MapFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber())
    return ThrowType(env, "mapFile(path: string, size: number)");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  double dsize = info[1].As<Napi::Number>().DoubleValue();
  if (!(dsize >= 1) || dsize != std::floor(dsize) || dsize > 9007199254740991.0)
    return ThrowRange(env, "mapFile: size must be a positive integer");
  if (path.empty() || path.find('\0') != std::string::npos)
    return ThrowErrno(env, ENOENT, "open", path);
  size_t size = static_cast<size_t>(dsize);

  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return ThrowErrno(env, errno, "open", path);

  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, err, "fstat", path);
  }
  if (static_cast<uint64_t>(st.st_size) != size) {
    if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
      int err = errno;
      close(fd);
      return ThrowErrno(env, err, "ftruncate", path);
    }
  }
  void* addr = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  int err = errno;
  close(fd);  // the mapping keeps the file open
  if (addr == MAP_FAILED) return ThrowErrno(env, err, "mmap", path);

  Mapping* m = new Mapping{addr, size, false};
  {
    std::lock_guard<std::mutex> g(g_live_lock);
    g_live[addr] = m;
  }
  return Napi::ArrayBuffer::New(env, addr, size, FinalizeMapping, m);
}

// The u32 at `off` in `buf`, or nullptr after throwing. A detached buffer
// (after unmap) has no data and length 0, so every offset is out of range.
uint32_t* WordAt(const Napi::CallbackInfo& info, size_t nargs) {
  Napi::Env env = info.Env();
  if (info.Length() < nargs || !info[0].IsArrayBuffer() || !info[1].IsNumber()) {
    ThrowType(env, "expected (buf: ArrayBuffer, off: number, ...)");
    return nullptr;
  }
  for (size_t i = 2; i < nargs; i++) {
    if (!info[i].IsNumber()) {
      ThrowType(env, "expected numbers");
      return nullptr;
    }
  }
  Napi::ArrayBuffer ab = info[0].As<Napi::ArrayBuffer>();
  void* data = ab.Data();
  size_t len = ab.ByteLength();
  double off = info[1].As<Napi::Number>().DoubleValue();
  if (data == nullptr || len == 0) {
    ThrowRange(env, "the buffer is unmapped");
    return nullptr;
  }
  if (!(off >= 0) || off != std::floor(off) || off + 4 > static_cast<double>(len) ||
      static_cast<uint64_t>(off) % 4 != 0) {
    char msg[128];
    snprintf(msg, sizeof msg, "offset %.17g is not a 4-aligned word inside a buffer of %zu bytes", off, len);
    ThrowRange(env, msg);
    return nullptr;
  }
  return reinterpret_cast<uint32_t*>(static_cast<uint8_t*>(data) + static_cast<size_t>(off));
}

Napi::Value Cas32(const Napi::CallbackInfo& info) {
  uint32_t* word = WordAt(info, 4);
  if (word == nullptr) return info.Env().Undefined();
  uint32_t expect = info[2].As<Napi::Number>().Uint32Value();
  uint32_t value = info[3].As<Napi::Number>().Uint32Value();
  // On failure `expect` receives the current value; on success it already is.
  __atomic_compare_exchange_n(word, &expect, value, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return Napi::Number::New(info.Env(), expect);
}

Napi::Value Store32(const Napi::CallbackInfo& info) {
  uint32_t* word = WordAt(info, 3);
  if (word == nullptr) return info.Env().Undefined();
  uint32_t value = info[2].As<Napi::Number>().Uint32Value();
  __atomic_store_n(word, value, __ATOMIC_SEQ_CST);
  return info.Env().Undefined();
}

Napi::Value Unmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArrayBuffer()) return ThrowType(env, "unmap(buf: ArrayBuffer)");
  Napi::ArrayBuffer ab = info[0].As<Napi::ArrayBuffer>();
  void* data = ab.Data();
  if (data == nullptr || ab.ByteLength() == 0) return env.Undefined();  // already unmapped
  Mapping* m = nullptr;
  {
    std::lock_guard<std::mutex> g(g_live_lock);
    auto it = g_live.find(data);
    if (it != g_live.end()) {
      m = it->second;
      g_live.erase(it);
    }
  }
  if (m == nullptr) return ThrowType(env, "unmap: not a buffer returned by mapFile");
  // Detach first: every view of the buffer drops to length 0, so nothing in
  // JS can reach the memory once it is gone.
  napi_status st = napi_detach_arraybuffer(env, ab);
  if (st != napi_ok) {
    std::lock_guard<std::mutex> g(g_live_lock);
    g_live[data] = m;
    return ThrowType(env, "unmap: the buffer cannot be detached");
  }
  {
    std::lock_guard<std::mutex> g(g_live_lock);
    munmap(m->addr, m->len);
    m->unmapped = true;
  }
  return env.Undefined();
}

// Node has no setsockopt for stream sockets. A sysproxy connection carries
// a stream's data in answers of up to a few hundred KiB; Linux's default
// unix-socket buffer (about 208 KiB) splits each into several writes, each
// waiting for the other process to be scheduled and read. The kernel clamps
// the size to net.core.wmem_max / rmem_max; what it granted comes back.
Napi::Value SockBuf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool set = info.Length() >= 2 && !info[1].IsUndefined();
  if (info.Length() < 1 || !info[0].IsNumber() || (set && !info[1].IsNumber()))
    return ThrowType(env, "sockBuf(fd: number, bytes?: number)");
  int fd = info[0].As<Napi::Number>().Int32Value();
  if (set) {
    double dbytes = info[1].As<Napi::Number>().DoubleValue();
    if (!(dbytes >= 1) || dbytes > 1073741824.0) return ThrowRange(env, "sockBuf: bytes must be in 1 .. 1 GiB");
    int bytes = static_cast<int>(dbytes);
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes) != 0) return ThrowErrno(env, errno, "setsockopt", "");
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes) != 0) return ThrowErrno(env, errno, "setsockopt", "");
  }
  int snd = 0;
  int rcv = 0;
  socklen_t len = sizeof snd;
  if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, &len) != 0) return ThrowErrno(env, errno, "getsockopt", "");
  len = sizeof rcv;
  if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, &len) != 0) return ThrowErrno(env, errno, "getsockopt", "");
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, snd));
  out.Set(1u, Napi::Number::New(env, rcv));
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("mapFile", Napi::Function::New(env, MapFile, "mapFile"));
  exports.Set("cas32", Napi::Function::New(env, Cas32, "cas32"));
  exports.Set("store32", Napi::Function::New(env, Store32, "store32"));
  exports.Set("unmap", Napi::Function::New(env, Unmap, "unmap"));
  exports.Set("sockBuf", Napi::Function::New(env, SockBuf, "sockBuf"));
  rumpnet::InitTap(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(rumpnet_native, Init)
