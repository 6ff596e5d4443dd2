// One libmodbus context, closed and freed on scope exit.
#pragma once

#include <modbus.h>

#include <memory>

namespace fieldgate::modbus {

struct ContextDeleter {
  void operator()(modbus_t* ctx) const {
    modbus_close(ctx);
    modbus_free(ctx);
  }
};
using Context = std::unique_ptr<modbus_t, ContextDeleter>;

}  // namespace fieldgate::modbus
