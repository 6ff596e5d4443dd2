// The [[bridge]] tables of a config as the bridge library takes them.
#pragma once

#include <vector>

#include "broker/bridge/bridge.h"
#include "config/config.h"

namespace fieldgate {

// Throws std::runtime_error (naming the bridge and what to do) when a password_env variable is
// not set.
std::vector<bridge::Options> bridge_options(const config::Config& cfg);

}  // namespace fieldgate
