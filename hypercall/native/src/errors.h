// An fs-style Error for a failed system call, shared by the bus and TAP code:
// libuv's name and text for the errno (what Node's own fs errors carry), with
// `errno`, `code`, `syscall` and, when given, `path`.
#pragma once

#include <napi.h>
#include <uv.h>

#include <string>

namespace rumpnet {

inline Napi::Error SyscallError(Napi::Env env, int err, const char* syscall, const std::string& path) {
  char name[64];
  char text[128];
  uv_err_name_r(-err, name, sizeof name);
  uv_strerror_r(-err, text, sizeof text);
  std::string msg = std::string(name) + ": " + text + ", " + syscall;
  if (!path.empty()) msg += " '" + path + "'";
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("code", Napi::String::New(env, name));
  e.Set("syscall", Napi::String::New(env, syscall));
  if (!path.empty()) e.Set("path", Napi::String::New(env, path));
  return e;
}

}  // namespace rumpnet
