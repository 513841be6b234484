// Builder API: functions that add nodes to a Graph, infer shapes and dtypes,
// and throw GraphError naming the op, shapes and dtypes on misuse.
//
// Binary builders broadcast numpy-style (inserting Reshape + Broadcast nodes),
// so primitive binary nodes always see equal shapes. Scalars mix with tensors
// in the tensor's dtype. Axes may be negative (counted from the end).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace grokjit::ir {

// ---- leaves
Value input(Graph& g, std::string name, Shape shape, DType dtype, InputRole role);
Value constant(Graph& g, double value, Shape shape, DType dtype = DType::F32);
Value constant_data(Graph& g, std::vector<double> data, Shape shape, DType dtype = DType::F32);
Value iota(Graph& g, Shape shape, int64_t axis, DType dtype = DType::I32);
// Uniform [0,1) in `dtype` (float), counter-based: same (seed, counter,
// stream, element) -> same number on every backend.
Value random_uniform(Value seed, Value counter, Shape shape, uint32_t stream, DType dtype = DType::F32);

// ---- elementwise
Value neg(Value x);
Value exp(Value x);
Value log(Value x);
Value sqrt(Value x);
Value rsqrt(Value x);
Value recip(Value x);
Value sin(Value x);
Value cos(Value x);
Value abs(Value x);
Value sign(Value x);
Value relu(Value x);
Value silu(Value x);
Value sigmoid(Value x);
Value tanh(Value x);
Value square(Value x);
Value logical_not(Value x);
Value cast(Value x, DType to);

Value add(Value a, Value b);
Value sub(Value a, Value b);
Value mul(Value a, Value b);
Value div(Value a, Value b);
Value maximum(Value a, Value b);
Value minimum(Value a, Value b);
Value pow(Value a, Value b);
Value logical_and(Value a, Value b);
Value logical_or(Value a, Value b);
Value lt(Value a, Value b);
Value le(Value a, Value b);
Value gt(Value a, Value b);
Value ge(Value a, Value b);
Value eq(Value a, Value b);
Value ne(Value a, Value b);
Value where(Value cond, Value a, Value b);

// Any primitive elementwise/compare op by enum, with broadcasting.
Value binary(Op op, Value a, Value b);
Value unary(Op op, Value x);

// Scalar operands take the other operand's dtype.
Value operator+(Value a, Value b);
Value operator-(Value a, Value b);
Value operator*(Value a, Value b);
Value operator/(Value a, Value b);
Value operator-(Value a);
Value operator+(Value a, double b);
Value operator-(Value a, double b);
Value operator*(Value a, double b);
Value operator/(Value a, double b);
Value operator+(double a, Value b);
Value operator-(double a, Value b);
Value operator*(double a, Value b);
Value operator/(double a, Value b);
Value scalar_like(Value like, double v);  // constant of like's shape and dtype

// ---- reductions (keepdims=false drops the reduced axes with a Reshape)
Value sum(Value x, std::vector<int64_t> axes, bool keepdims = false);
Value max(Value x, std::vector<int64_t> axes, bool keepdims = false);
Value min(Value x, std::vector<int64_t> axes, bool keepdims = false);   // -max(-x)
Value mean(Value x, std::vector<int64_t> axes, bool keepdims = false);  // sum / n
Value sum_all(Value x);                                                // -> shape []

// ---- movement
Value broadcast_to(Value x, Shape shape);  // numpy rules (prepends 1s)
Value reshape(Value x, Shape shape);       // one -1 allowed
Value permute(Value x, std::vector<int64_t> perm);
Value transpose(Value x);                  // swap the last two axes
Value slice(Value x, int64_t axis, int64_t start, int64_t stop, int64_t step = 1);
Value slice(Value x, std::vector<int64_t> starts, Shape out_shape, std::vector<int64_t> steps);
Value pad(Value x, std::vector<int64_t> starts, Shape out_shape, std::vector<int64_t> steps);
Value concat(std::span<const Value> xs, int64_t axis);
Value concat(std::initializer_list<Value> xs, int64_t axis);

// ---- contraction and indexing
// Batched matmul; batch dims broadcast numpy-style; rank-1 operands are not
// promoted (use reshape).
Value matmul(Value a, Value b);
Value gather(Value table, Value indices);                       // rows of table
Value scatter_add(Value indices, Value updates, int64_t rows);  // Gather's adjoint

// ---- composites used by models and losses
Value one_hot(Value labels, int64_t classes, DType dtype = DType::F32);  // labels i32 [...] -> [..., classes]
Value argmax(Value x, int64_t axis);  // i32, first index among ties, axis dropped
Value softmax(Value x, int64_t axis);
Value log_softmax(Value x, int64_t axis);

// Outputs and updates (named helpers over Graph).
void output(Value v, std::string name);
void update(Value target, Value value);  // target: an Input of role Param/State

}  // namespace grokjit::ir
