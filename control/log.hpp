// SPDX-License-Identifier: Apache-2.0
// control/log.hpp: the printf-style logging facade of the control plane (never used by workers).
#pragma once

#include <cstdio>

#define VD_LOG(level, fmt, ...) \
  std::fprintf(stderr, "viaduct: " level ": " fmt "\n" __VA_OPT__(, ) __VA_ARGS__)
