// Element-wise math: unary functions (the channel index passes through), n-ary operators with
// numpy broadcasting (residual Add, SE gates, masks: their channels must line up), comparisons and
// logic (shape inference only), and the identity-like operators.
import type { OperatorFacts, OperatorTable, ShapeRule } from './types.ts';

const same = { kind: 'same' } as const;
const passThrough = { kind: 'passThrough' } as const;
const unary: OperatorFacts = { channel: passThrough, shape: same };
/** Known to shape inference only: a channel space reaching one is frozen. */
const shapeOnly = (shape: ShapeRule = same): OperatorFacts => ({ shape });
const nary = (more: OperatorFacts = {}): OperatorFacts => ({ channel: { kind: 'elementwise' }, shape: { kind: 'broadcast' }, ...more });

export const ELEMENTWISE: OperatorTable = {
  Abs: { ...unary, constant: { kind: 'activation', f: (x) => Math.abs(x) } },
  Neg: { ...unary, constant: { kind: 'activation', f: (x) => -x } },
  Erf: unary, Exp: unary, Log: unary, Sqrt: unary, Reciprocal: unary, Floor: unary, Ceil: unary, Round: unary,
  Sign: unary, Sin: unary, Cos: unary, IsNaN: unary, IsInf: unary, Not: unary,
  Tan: shapeOnly(), Atan: shapeOnly(), Asin: shapeOnly(), Acos: shapeOnly(), Sinh: shapeOnly(), Cosh: shapeOnly(), BitwiseNot: shapeOnly(),

  Identity: { channel: passThrough, shape: { kind: 'same', values: 'keep' }, constant: { kind: 'move' }, transparentToBn: true },
  Dropout: { channel: passThrough, shape: { kind: 'same', extra: 'mask' }, constant: { kind: 'move' }, transparentToBn: true },
  Cast: { channel: passThrough, shape: { kind: 'same', values: 'cast' }, transparentToBn: true },
  CastLike: shapeOnly(),

  Add: nary({ shape: { kind: 'broadcast', arithmetic: 'add' }, constant: { kind: 'arithmetic', op: 'Add' } }),
  Sub: nary({ shape: { kind: 'broadcast', arithmetic: 'sub' }, constant: { kind: 'arithmetic', op: 'Sub' } }),
  Mul: nary({ shape: { kind: 'broadcast', arithmetic: 'mul' }, constant: { kind: 'arithmetic', op: 'Mul' } }),
  Div: nary({ shape: { kind: 'broadcast', arithmetic: 'div' }, constant: { kind: 'arithmetic', op: 'Div' } }),
  Max: nary({ shape: { kind: 'broadcast', arithmetic: 'max' } }),
  Min: nary({ shape: { kind: 'broadcast', arithmetic: 'min' } }),
  Sum: nary(), Mean: nary(), Pow: nary(),

  Equal: shapeOnly({ kind: 'broadcast', result: 'bool' }),
  Less: shapeOnly({ kind: 'broadcast', result: 'bool' }),
  LessOrEqual: shapeOnly({ kind: 'broadcast', result: 'bool' }),
  Greater: shapeOnly({ kind: 'broadcast', result: 'bool' }),
  GreaterOrEqual: shapeOnly({ kind: 'broadcast', result: 'bool' }),
  And: shapeOnly({ kind: 'broadcast', result: 'bool' }),
  Or: shapeOnly({ kind: 'broadcast', result: 'bool' }),
  Xor: shapeOnly({ kind: 'broadcast', result: 'bool' }),
  Where: shapeOnly({ kind: 'broadcast', result: 'second' }),
  Mod: shapeOnly({ kind: 'broadcast' }), BitShift: shapeOnly({ kind: 'broadcast' }),
  BitwiseAnd: shapeOnly({ kind: 'broadcast' }), BitwiseOr: shapeOnly({ kind: 'broadcast' }), BitwiseXor: shapeOnly({ kind: 'broadcast' }),
};
