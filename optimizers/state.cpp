#include "optimizers/state.h"

#include "ir/builder.h"
#include "ir/error.h"

namespace grokjit::optimizers {

std::string state_name(const std::string& param, const std::string& slot) { return "opt." + param + "." + slot; }

ir::Value StateStore::create(const std::string& name, const ir::Shape& shape, ir::DType dtype) {
  if (g_->find_input(name) >= 0) throw Error("optimizer state '" + name + "' is declared twice");
  specs_.push_back({name, shape, dtype, 0.0});
  return ir::input(*g_, name, shape, dtype, ir::InputRole::State);
}

void StateStore::set(ir::Value state, ir::Value next) { ir::update(state, next); }

}  // namespace grokjit::optimizers
