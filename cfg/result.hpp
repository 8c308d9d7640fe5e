// SPDX-License-Identifier: Apache-2.0
// cfg/result.hpp: Result<T> / Status, the error vocabulary of cfg/ and control/.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace viaduct {

struct Error {
  enum class Code : uint8_t { kInvalidConfig, kNotFound, kIo, kExhausted, kInternal };
  Code code = Code::kInternal;
  std::string message;  // lower case, no trailing period
  std::string where;    // "routing.cfg:12:7" when the user can fix it, else empty

  std::string str() const { return where.empty() ? message : where + ": " + message; }
};

// The subset of std::expected<T, Error> we use (GCC 12 has no std::expected).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}
  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }
  T& operator*() & { return *std::get_if<0>(&v_); }
  const T& operator*() const& { return *std::get_if<0>(&v_); }
  T&& operator*() && { return std::move(*std::get_if<0>(&v_)); }
  T* operator->() { return std::get_if<0>(&v_); }
  const T* operator->() const { return std::get_if<0>(&v_); }
  const Error& error() const& { return *std::get_if<1>(&v_); }
  Error&& error() && { return std::move(*std::get_if<1>(&v_)); }

 private:
  std::variant<T, Error> v_;
};

using Status = Result<std::monostate>;
inline Status ok() { return std::monostate{}; }

}  // namespace viaduct
