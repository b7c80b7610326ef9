// rumpnet_native, TAP devices: a Linux TAP fd read on the main thread.
//
//   tapOpen(name, rxBytes, rxLengths, onBatch[, perFrame[, vnetHdr]])
//                                  -> { handle, name, created, vnetHdrLen }
//   tapSetOffload(handle, flags)   TUNSETOFFLOAD (TUN_F_* bits): what we accept
//   tapReadStart(handle)           poll the fd; each wake-up drains it into rxBytes
//   tapReadStop(handle)            stop polling (frames wait in the kernel's queue)
//   tapWrite(handle, txBytes, txLengths, count) -> frames written
//   tapClose(handle)               stop, close the fd (a TAP we created goes away)
//
// Reading. The fd is O_NONBLOCK and watched by a uv_poll_t on the calling
// thread's event loop; no threadpool request per frame (a threadpool read per
// frame measured about 15 times slower on this machine class). On a wake-up
// read(2) is called until EAGAIN, packing frames back to back into rxBytes
// and their lengths into rxLengths; then `onBatch(count)` runs once, as a
// Node I/O callback (MakeCallback: nextTicks and promise jobs run after it).
// The batch is only valid during that call: the JS side copies what it
// keeps. A read that fills the buffer delivers a batch and goes on reading,
// up to MAX_BATCHES_PER_WAKE batches; the poll is level-triggered, so what is
// left wakes it again after other handles had their turn. An error (the
// device was deleted under us) stops the poll and is reported as
// onBatch(-errno).
//
// SYNs have a budget per wake-up (kSynBudgetPerWake), as a NIC that steers
// SYNs to a queue of their own (Intel's SYN filter): bare SYNs (SYN without
// ACK, TCP over IPv4 or IPv6) past it are read and dropped here, and
// counted: onBatch's second argument is how many since the last call. A SYN
// flood then costs the kernel a read(2) per SYN past the budget instead of
// its whole handshake work, and crowds out less of the rest: the ACKs that
// complete handshakes (with SYN cookies, a lost one loses the connection)
// and established traffic read in the same wake-up are all delivered.
// Without the budget the kernel fell behind, Linux's queue to the TAP
// overflowed, and it dropped SYNs and ACKs alike. Once the budget is spent
// the wake-up reads at most as many frames again (kSynBudgetPerWake): when
// even reading cannot keep up, frames are better dropped by Linux, for
// free, than read to be dropped. A normal load never has 1,024 SYNs waiting
// at one wake-up.
//
// Writing. The JS side packs frames into txBytes the same way and hands over
// a whole batch in one call; each frame is one write(2) (a TAP fd takes one
// frame per write; writev would glue the iovecs into one frame).
//
// Opening. /dev/net/tun with IFF_TAP | IFF_NO_PI (bare Ethernet frames).
// TUNSETIFF first with IFF_TUN_EXCL: success means the device did not exist
// and we created it (it is not persistent, so it disappears when the fd is
// closed); EBUSY means it exists, and a second TUNSETIFF without IFF_TUN_EXCL
// attaches to it and leaves it in place at close. Race-free, unlike a look
// at /sys/class/net first.
//
// The virtio-net header (vnetHdr true): IFF_VNET_HDR, then TUNSETVNETHDRSZ
// 12 (struct virtio_net_hdr_v1: the virtio 1.0 layout, always little-endian,
// which TUNSETVNETLE makes the device use on any host; the legacy 10-byte
// header is in host byte order) and TUNSETVNETLE. Every frame read or written
// then starts with that header: checksum and segmentation offload
// (TUNSETOFFLOAD says which offloaded frames we can take). A kernel that
// refuses the header size leaves the device without it (vnetHdrLen 0).
//
// Why a TUNSETIFF failed is told by the error's `kind` where it matters:
// "tun" when the name is a TUN (layer 3) device, "other" when it is some
// other kind of interface (/sys/class/net/NAME/tun_flags says which).
//
// Errors are thrown shaped like Node's fs errors (code, errno, syscall, path),
// as the bus functions in addon.cc throw them.

#include <napi.h>

#include "errors.h"
#include <uv.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#if defined(__linux__)
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <cstdio>
#include <sys/stat.h>
#endif

namespace rumpnet {

namespace {

// `existing`: the device exists and attaching to it failed (so an EPERM is
// about ownership of that device, not about creating one).
Napi::Value ThrowTapErrno(Napi::Env env, int err, const char* syscall, const std::string& path,
                          bool existing = false, const char* kind = nullptr) {
  Napi::Error e = SyscallError(env, err, syscall, path);
  if (existing) e.Set("existing", Napi::Boolean::New(env, true));
  if (kind != nullptr) e.Set("kind", Napi::String::New(env, kind));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowTapType(Napi::Env env, const char* msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

#if defined(__linux__)

// Room a read must have: the largest frame a TAP can hand us (MTU or a GSO
// frame at most 65535, plus the Ethernet header, plus the 12-byte virtio-net
// header, plus slack).
constexpr size_t kMaxFrame = 65536 + 32;
constexpr int kVnetHdrLen = 12;

// What an existing interface `name` is, when attaching as a TAP failed with
// EINVAL: "tun" (a TUN device), "other" (not a tun/tap device), or nullptr.
const char* ExistingKind(const std::string& name) {
  std::string dir = "/sys/class/net/" + name;
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) return nullptr;
  FILE* f = fopen((dir + "/tun_flags").c_str(), "r");
  if (f == nullptr) return "other";
  unsigned int flags = 0;
  int got = fscanf(f, "%x", &flags);
  fclose(f);
  if (got == 1 && (flags & IFF_TUN) != 0) return "tun";
  return nullptr;
}
// Batches delivered per wake-up before letting other handles run.
constexpr int kMaxBatchesPerWake = 8;
// Bare SYNs delivered per wake-up at most; more are read and dropped.
constexpr size_t kSynBudgetPerWake = 1024;

struct Tap {
  napi_env env = nullptr;
  int fd = -1;
  uv_poll_t* poll = nullptr;  // freed in its close callback
  bool polling = false;
  bool closed = false;
  bool cleanupHook = false;
  // Measurement mode (bench/virtif.ts): one JS call per frame, all of a
  // wake-up's calls inside one handle scope and one callback scope.
  bool perFrame = false;
  // The receive batch: JS-owned ArrayBuffers kept alive by strong refs.
  napi_ref rxBytesRef = nullptr;
  napi_ref rxLengthsRef = nullptr;
  uint8_t* rxBytes = nullptr;
  size_t rxCap = 0;
  uint32_t* rxLengths = nullptr;
  size_t rxMaxFrames = 0;
  int vnetHdrLen = 0;
  // Bare SYNs dropped over the budget, not yet told to onBatch.
  double rxShed = 0;
  // onBatch: strong while polling (an active device keeps its driver alive,
  // as an open socket does), weak otherwise so an abandoned device can be
  // collected and finalized.
  napi_ref onBatchRef = nullptr;
  uint32_t onBatchRefs = 0;
  napi_async_context asyncContext = nullptr;
  napi_ref resourceRef = nullptr;
};

void OnPollClosed(uv_handle_t* h) {
  delete reinterpret_cast<uv_poll_t*>(h);
}

void DeleteRef(napi_env env, napi_ref* ref) {
  if (*ref != nullptr) {
    napi_delete_reference(env, *ref);
    *ref = nullptr;
  }
}

void StopPolling(Tap* t) {
  if (t->polling) {
    uv_poll_stop(t->poll);
    t->polling = false;
    if (t->onBatchRefs > 0) {
      napi_reference_unref(t->env, t->onBatchRef, &t->onBatchRefs);
    }
  }
}

// Stop polling, close the poll handle and the fd. Safe to call twice and
// from inside onBatch (the struct and its buffer refs live until the
// finalizer, so a read loop that called out finds `closed` and returns).
//
// `teardown`: the environment is going away. Its loop finishes closing the
// handle after this library may have been unloaded (a worker's addons are
// dlclose'd), so no close callback of ours may run then: the handle's few
// bytes are left to the loop instead of being freed.
void CloseTap(Tap* t, bool teardown = false) {
  if (t->closed) return;
  t->closed = true;
  StopPolling(t);
  if (t->poll != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(t->poll), teardown ? nullptr : OnPollClosed);
    t->poll = nullptr;
  }
  // The poll handle is stopped, so the fd can go now (libuv no longer
  // watches it); a TAP we created disappears with its last fd.
  if (t->fd >= 0) {
    close(t->fd);
    t->fd = -1;
  }
}

// The environment is going away (process exit, a worker terminated): close
// the poll handle while its loop still runs, or the loop could not close.
void TapCleanupHook(void* data) {
  Tap* t = static_cast<Tap*>(data);
  t->cleanupHook = false;
  CloseTap(t, true);
}

void FinalizeTap(napi_env env, void* data, void*) {
  Tap* t = static_cast<Tap*>(data);
  if (t->cleanupHook) {
    napi_remove_env_cleanup_hook(env, TapCleanupHook, t);
    t->cleanupHook = false;
  }
  CloseTap(t);
  DeleteRef(env, &t->rxBytesRef);
  DeleteRef(env, &t->rxLengthsRef);
  DeleteRef(env, &t->onBatchRef);
  DeleteRef(env, &t->resourceRef);
  if (t->asyncContext != nullptr) napi_async_destroy(env, t->asyncContext);
  delete t;
}

// Run onBatch(arg, shed) as a Node I/O callback. An exception it throws is
// an uncaught exception of the process, as in any I/O callback.
void CallOnBatch(Tap* t, double arg) {
  napi_env env = t->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn = nullptr;
  napi_value resource = nullptr;
  napi_value argv[2];
  napi_value result;
  napi_get_reference_value(env, t->onBatchRef, &fn);
  napi_get_reference_value(env, t->resourceRef, &resource);
  napi_create_double(env, arg, &argv[0]);
  napi_create_double(env, t->rxShed, &argv[1]);
  t->rxShed = 0;
  if (fn != nullptr && resource != nullptr) {
    napi_status st = napi_make_callback(env, t->asyncContext, resource, fn, 2, argv, &result);
    if (st != napi_ok) {
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      if (pending) {
        napi_value err;
        napi_get_and_clear_last_exception(env, &err);
        napi_fatal_exception(env, err);
      }
    }
  }
  napi_close_handle_scope(env, scope);
}

// The per-frame variant of the wake-up: each frame is read to the start of
// rxBytes and handed over with onBatch(1) at once. Kept to measure against
// the batch (bench/virtif.ts); the drivers use batches.
void ReadPerFrame(Tap* t) {
  napi_env env = t->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn = nullptr;
  napi_value resource = nullptr;
  napi_value recv;
  napi_value one;
  napi_get_reference_value(env, t->onBatchRef, &fn);
  napi_get_reference_value(env, t->resourceRef, &resource);
  napi_get_undefined(env, &recv);
  napi_create_double(env, 1, &one);
  napi_callback_scope cscope;
  if (fn != nullptr && resource != nullptr &&
      napi_open_callback_scope(env, resource, t->asyncContext, &cscope) == napi_ok) {
    int err = 0;
    for (size_t n = 0; n < t->rxMaxFrames * kMaxBatchesPerWake && !t->closed && t->polling; n++) {
      ssize_t got = read(t->fd, t->rxBytes, t->rxCap);
      if (got < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) err = errno;
        break;
      }
      if (got == 0) break;
      t->rxLengths[0] = static_cast<uint32_t>(got);
      napi_value result;
      if (napi_call_function(env, recv, fn, 1, &one, &result) != napi_ok) {
        bool pending = false;
        napi_is_exception_pending(env, &pending);
        if (pending) {
          napi_value e;
          napi_get_and_clear_last_exception(env, &e);
          napi_fatal_exception(env, e);
        }
        break;
      }
    }
    napi_close_callback_scope(env, cscope);
    if (err != 0 && !t->closed && t->polling) {
      CallOnBatch(t, -err);
      StopPolling(t);
    }
  }
  napi_close_handle_scope(env, scope);
}

// A bare SYN (SYN set, ACK not): TCP over IPv4 (not a later fragment) or
// IPv6 (no extension header), in an Ethernet frame with at most one VLAN tag.
bool IsBareSyn(const uint8_t* f, size_t len) {
  if (len < 14) return false;
  size_t off = 12;
  unsigned type = (f[off] << 8) | f[off + 1];
  if (type == 0x8100 && len >= 18) {
    off += 4;
    type = (f[off] << 8) | f[off + 1];
  }
  off += 2;
  if (type == 0x0800) {
    if (len < off + 20 || f[off + 9] != 6 || ((f[off + 6] & 0x1f) | f[off + 7]) != 0) return false;
    off += (f[off] & 0x0f) * 4u;
  } else if (type == 0x86dd) {
    if (len < off + 40 || f[off + 6] != 6) return false;
    off += 40;
  } else {
    return false;
  }
  return len >= off + 14 && (f[off + 13] & 0x12) == 0x02;
}

void OnPoll(uv_poll_t* h, int status, int) {
  Tap* t = static_cast<Tap*>(h->data);
  if (t == nullptr || t->closed || !t->polling) return;
  if (status < 0) {
    // Report first (onBatch is held strongly while polling), then stop.
    CallOnBatch(t, status);  // libuv statuses are negative errnos
    StopPolling(t);
    return;
  }
  // Never consume frames nobody will see: without a live onBatch (the JS
  // side lost it) stop polling rather than read into the void.
  {
    napi_handle_scope scope;
    napi_value fn = nullptr;
    if (napi_open_handle_scope(t->env, &scope) == napi_ok) {
      napi_get_reference_value(t->env, t->onBatchRef, &fn);
      napi_close_handle_scope(t->env, scope);
    }
    if (fn == nullptr) {
      StopPolling(t);
      return;
    }
  }
  if (t->perFrame) {
    ReadPerFrame(t);
    return;
  }
  size_t synsLeft = kSynBudgetPerWake;
  // Reads per wake-up, delivered or shed: the wake-up ends in bounded time.
  size_t readsLeft = t->rxMaxFrames * kMaxBatchesPerWake;
  for (int batch = 0; batch < kMaxBatchesPerWake; batch++) {
    size_t used = 0;
    size_t count = 0;
    int err = 0;
    bool drained = false;
    while (count < t->rxMaxFrames && t->rxCap - used >= kMaxFrame && readsLeft > 0) {
      ssize_t n = read(t->fd, t->rxBytes + used, t->rxCap - used);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) drained = true;
        else err = errno;
        break;
      }
      if (n == 0) {
        drained = true;
        break;
      }
      readsLeft--;
      size_t hl = static_cast<size_t>(t->vnetHdrLen);
      if (static_cast<size_t>(n) > hl && IsBareSyn(t->rxBytes + used + hl, static_cast<size_t>(n) - hl)) {
        if (synsLeft == 0) {
          t->rxShed++;  // over the budget: the next read takes its place
          continue;
        }
        // The budget's last SYN: the reads still allowed this wake-up.
        if (--synsLeft == 0 && readsLeft > kSynBudgetPerWake) readsLeft = kSynBudgetPerWake;
      }
      t->rxLengths[count++] = static_cast<uint32_t>(n);
      used += static_cast<size_t>(n);
    }
    if (count > 0) CallOnBatch(t, static_cast<double>(count));
    if (t->closed || !t->polling) return;
    if (err != 0) {
      CallOnBatch(t, -err);
      StopPolling(t);
      return;
    }
    if (drained || readsLeft == 0) return;
  }
}

Tap* TapOf(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsExternal()) {
    ThrowTapType(info.Env(), "expected a TAP handle");
    return nullptr;
  }
  return info[0].As<Napi::External<Tap>>().Data();
}

// The data of an ArrayBuffer argument, or nullptr after throwing.
uint8_t* BufferArg(const Napi::CallbackInfo& info, size_t i, size_t* len) {
  if (info.Length() <= i || !info[i].IsArrayBuffer()) {
    ThrowTapType(info.Env(), "expected an ArrayBuffer");
    return nullptr;
  }
  Napi::ArrayBuffer ab = info[i].As<Napi::ArrayBuffer>();
  *len = ab.ByteLength();
  return static_cast<uint8_t*>(ab.Data());
}

Napi::Value TapOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsString() || !info[3].IsFunction())
    return ThrowTapType(env, "tapOpen(name: string, rxBytes: ArrayBuffer, rxLengths: ArrayBuffer, onBatch: function, perFrame?: boolean)");
  bool perFrame = info.Length() > 4 && info[4].IsBoolean() && info[4].As<Napi::Boolean>().Value();
  bool vnetHdr = info.Length() > 5 && info[5].IsBoolean() && info[5].As<Napi::Boolean>().Value();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  size_t rxCap = 0;
  size_t rxLenBytes = 0;
  uint8_t* rxBytes = BufferArg(info, 1, &rxCap);
  if (rxBytes == nullptr) return env.Undefined();
  uint8_t* rxLengths = BufferArg(info, 2, &rxLenBytes);
  if (rxLengths == nullptr) return env.Undefined();
  if (rxCap < kMaxFrame || rxLenBytes < 4 || reinterpret_cast<uintptr_t>(rxLengths) % 4 != 0) {
    Napi::RangeError::New(env, "tapOpen: rxBytes must hold one largest frame (65568 bytes), rxLengths one u32")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // IFNAMSIZ counts the terminating NUL.
  if (name.empty() || name.size() >= IFNAMSIZ || name.find('\0') != std::string::npos)
    return ThrowTapErrno(env, EINVAL, "open", name);

  const char* dev = "/dev/net/tun";
  int fd = open(dev, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return ThrowTapErrno(env, errno, "open", dev);

  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name.data(), name.size());
  const short base = static_cast<short>(IFF_TAP | IFF_NO_PI | (vnetHdr ? IFF_VNET_HDR : 0));
  ifr.ifr_flags = base | IFF_TUN_EXCL;
  bool created = true;
  if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
    int err = errno;
    if (err == EBUSY) {
      // It exists: attach to it (EBUSY again: another process has it).
      created = false;
      ifr.ifr_flags = base;
      if (ioctl(fd, TUNSETIFF, &ifr) != 0) err = errno;
      else err = 0;
    }
    if (err != 0) {
      close(fd);
      const char* kind = err == EINVAL && !created ? ExistingKind(name) : nullptr;
      return ThrowTapErrno(env, err, "ioctl TUNSETIFF", name, !created, kind);
    }
  }
  int vnetHdrLen = 0;
  if (vnetHdr) {
    int sz = kVnetHdrLen;
    int le = 1;
    unsigned int none = 0;
    if (ioctl(fd, TUNSETVNETHDRSZ, &sz) == 0 && ioctl(fd, TUNSETVNETLE, &le) == 0 &&
        ioctl(fd, TUNSETOFFLOAD, none) == 0) {
      vnetHdrLen = kVnetHdrLen;
    } else {
      // An old kernel: go on without the header (the device was opened
      // with IFF_VNET_HDR, so reopen without it).
      close(fd);
      fd = open(dev, O_RDWR | O_NONBLOCK | O_CLOEXEC);
      if (fd < 0) return ThrowTapErrno(env, errno, "open", dev);
      ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
      if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
        int err = errno;
        close(fd);
        return ThrowTapErrno(env, err, "ioctl TUNSETIFF", name, true);
      }
    }
  }
  char actual[IFNAMSIZ + 1];
  memcpy(actual, ifr.ifr_name, IFNAMSIZ);
  actual[IFNAMSIZ] = '\0';

  Tap* t = new Tap();
  t->env = env;
  t->fd = fd;
  t->rxBytes = rxBytes;
  t->rxCap = rxCap;
  t->rxLengths = reinterpret_cast<uint32_t*>(rxLengths);
  t->rxMaxFrames = rxLenBytes / 4;
  t->vnetHdrLen = vnetHdrLen;
  t->perFrame = perFrame;
  napi_create_reference(env, info[1], 1, &t->rxBytesRef);
  napi_create_reference(env, info[2], 1, &t->rxLengthsRef);
  napi_create_reference(env, info[3], 0, &t->onBatchRef);
  Napi::Object resource = Napi::Object::New(env);
  napi_create_reference(env, resource, 1, &t->resourceRef);
  napi_async_init(env, resource, Napi::String::New(env, "RUMPNET_TAP"), &t->asyncContext);

  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  t->poll = new uv_poll_t;
  int rc = uv_poll_init(loop, t->poll, fd);
  if (rc != 0) {
    delete t->poll;
    t->poll = nullptr;
    FinalizeTap(env, t, nullptr);
    return ThrowTapErrno(env, -rc, "uv_poll_init", name);
  }
  t->poll->data = t;
  napi_add_env_cleanup_hook(env, TapCleanupHook, t);
  t->cleanupHook = true;

  Napi::Object out = Napi::Object::New(env);
  out.Set("handle", Napi::External<Tap>::New(env, t, [](Napi::Env e, Tap* p) { FinalizeTap(e, p, nullptr); }));
  out.Set("name", Napi::String::New(env, actual));
  out.Set("created", Napi::Boolean::New(env, created));
  out.Set("vnetHdrLen", Napi::Number::New(env, vnetHdrLen));
  return out;
}

// TUNSETOFFLOAD: which offloaded frames the device may hand us (TUN_F_CSUM:
// a checksum left to fill; TUN_F_TSO4/6: a TCP segment larger than the MTU).
Napi::Value TapSetOffload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Tap* t = TapOf(info);
  if (t == nullptr) return env.Undefined();
  if (info.Length() < 2 || !info[1].IsNumber()) return ThrowTapType(env, "tapSetOffload(handle, flags)");
  if (t->closed) return ThrowTapErrno(env, EBADF, "ioctl TUNSETOFFLOAD", "");
  unsigned int flags = info[1].As<Napi::Number>().Uint32Value();
  if (ioctl(t->fd, TUNSETOFFLOAD, flags) != 0) return ThrowTapErrno(env, errno, "ioctl TUNSETOFFLOAD", "");
  return env.Undefined();
}

Napi::Value TapReadStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Tap* t = TapOf(info);
  if (t == nullptr) return env.Undefined();
  if (t->closed) return ThrowTapErrno(env, EBADF, "uv_poll_start", "");
  if (t->polling) return env.Undefined();
  int rc = uv_poll_start(t->poll, UV_READABLE, OnPoll);
  if (rc != 0) return ThrowTapErrno(env, -rc, "uv_poll_start", "");
  t->polling = true;
  napi_reference_ref(env, t->onBatchRef, &t->onBatchRefs);
  return env.Undefined();
}

Napi::Value TapReadStop(const Napi::CallbackInfo& info) {
  Tap* t = TapOf(info);
  if (t != nullptr) StopPolling(t);
  return info.Env().Undefined();
}

Napi::Value TapWrite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Tap* t = TapOf(info);
  if (t == nullptr) return env.Undefined();
  size_t cap = 0;
  size_t lenBytes = 0;
  uint8_t* bytes = BufferArg(info, 1, &cap);
  if (bytes == nullptr) return env.Undefined();
  uint8_t* lens = BufferArg(info, 2, &lenBytes);
  if (lens == nullptr) return env.Undefined();
  if (info.Length() < 4 || !info[3].IsNumber()) return ThrowTapType(env, "tapWrite(handle, bytes, lengths, count)");
  int64_t count = info[3].As<Napi::Number>().Int64Value();
  if (count < 0 || static_cast<uint64_t>(count) > lenBytes / 4 || reinterpret_cast<uintptr_t>(lens) % 4 != 0) {
    Napi::RangeError::New(env, "tapWrite: count out of range").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (t->closed) return Napi::Number::New(env, 0);
  const uint32_t* lengths = reinterpret_cast<const uint32_t*>(lens);
  size_t off = 0;
  int64_t written = 0;
  for (int64_t i = 0; i < count; i++) {
    size_t len = lengths[i];
    if (len > cap - off) break;  // a bad length: never read past the buffer
    ssize_t n;
    do {
      n = write(t->fd, bytes + off, len);
    } while (n < 0 && errno == EINTR);
    off += len;
    if (n < 0) {
      // The device's queue is full: the rest of the batch would fail too.
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      continue;  // this frame was refused (EIO, EINVAL): count it, go on
    }
    written++;
  }
  return Napi::Number::New(env, static_cast<double>(written));
}

Napi::Value TapClose(const Napi::CallbackInfo& info) {
  Tap* t = TapOf(info);
  if (t != nullptr) CloseTap(t);
  return info.Env().Undefined();
}

#else  // !__linux__

Napi::Value TapUnsupported(const Napi::CallbackInfo& info) {
  return ThrowTapErrno(info.Env(), ENOTSUP, "open", "/dev/net/tun");
}

#endif

}  // namespace

void InitTap(Napi::Env env, Napi::Object exports) {
#if defined(__linux__)
  exports.Set("tapOpen", Napi::Function::New(env, TapOpen, "tapOpen"));
  exports.Set("tapReadStart", Napi::Function::New(env, TapReadStart, "tapReadStart"));
  exports.Set("tapReadStop", Napi::Function::New(env, TapReadStop, "tapReadStop"));
  exports.Set("tapWrite", Napi::Function::New(env, TapWrite, "tapWrite"));
  exports.Set("tapClose", Napi::Function::New(env, TapClose, "tapClose"));
  exports.Set("tapSetOffload", Napi::Function::New(env, TapSetOffload, "tapSetOffload"));
#else
  for (const char* n : {"tapOpen", "tapReadStart", "tapReadStop", "tapWrite", "tapClose", "tapSetOffload"})
    exports.Set(n, Napi::Function::New(env, TapUnsupported, n));
#endif
}

}  // namespace rumpnet
