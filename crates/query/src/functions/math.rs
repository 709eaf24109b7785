//! Element-wise math: `abs`, `ceil`, trig, `clamp*`, `round`, ...

use promql_parser::parser::Call;

use super::{arg, map_points};
use crate::eval::Evaluator;
use crate::value::{go_max, go_min, Grid, Value};
use crate::QueryError;

fn simple(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "deg" => |v| v * 180.0 / std::f64::consts::PI,
        "rad" => |v| v * std::f64::consts::PI / 180.0,
        "sgn" => |v: f64| {
            if v > 0.0 {
                1.0
            } else if v < 0.0 {
                -1.0
            } else {
                v
            }
        },
        _ => return None,
    })
}

/// Prometheus' rounding: half up, to the nearest multiple of `to`.
pub(crate) fn round_to(v: f64, to: f64) -> f64 {
    let inv = 1.0 / to;
    (v * inv + 0.5).floor() / inv
}

impl Evaluator<'_> {
    /// Evaluates element-wise math functions; `None` when `call` is not one.
    pub(crate) fn math_fn(&mut self, call: &Call, grid: Grid) -> Result<Option<Value>, QueryError> {
        let name = call.func.name;
        if let Some(f) = simple(name) {
            let s = self.eval_vector(arg(call, 0)?, grid)?;
            return Ok(Some(Value::Vector(map_points(&grid, s, true, |_, v| {
                Some(f(v))
            })?)));
        }
        let out = match name {
            "clamp" => {
                let s = self.eval_vector(arg(call, 0)?, grid)?;
                let lo = self.eval_scalar(arg(call, 1)?, grid)?;
                let hi = self.eval_scalar(arg(call, 2)?, grid)?;
                map_points(&grid, s, true, |i, v| {
                    let (l, h) = (lo[i], hi[i]);
                    if h < l {
                        None
                    } else {
                        Some(go_max(l, go_min(h, v)))
                    }
                })?
            }
            "clamp_min" | "clamp_max" => {
                let s = self.eval_vector(arg(call, 0)?, grid)?;
                let b = self.eval_scalar(arg(call, 1)?, grid)?;
                let is_min = name == "clamp_min";
                map_points(&grid, s, true, |i, v| {
                    Some(if is_min {
                        go_max(v, b[i])
                    } else {
                        go_min(v, b[i])
                    })
                })?
            }
            "round" => {
                let s = self.eval_vector(arg(call, 0)?, grid)?;
                let to = match call.args.args.get(1) {
                    Some(e) => self.eval_scalar(e, grid)?,
                    None => vec![1.0; grid.len()],
                };
                map_points(&grid, s, true, |i, v| Some(round_to(v, to[i])))?
            }
            _ => return Ok(None),
        };
        Ok(Some(Value::Vector(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::round_to;

    #[test]
    fn rounding_is_half_up() {
        assert_eq!(round_to(2.5, 1.0), 3.0);
        assert_eq!(round_to(-2.5, 1.0), -2.0);
        assert_eq!(round_to(7.0, 5.0), 5.0);
        assert_eq!(round_to(0.25, 0.1), 0.3);
    }
}
