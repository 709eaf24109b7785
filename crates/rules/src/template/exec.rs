//! Execution of a parsed template against [`TemplateData`].

use super::funcs;
use super::parse::{Cmd, Node, Number, Operand, Pipe, PosError, Term};
use super::value::Value;
use super::TemplateData;

type EResult<T> = Result<T, PosError>;

/// Why a list of nodes stopped early.
enum Flow {
    Normal,
    Break,
    Continue,
}

struct Exec<'a> {
    data: &'a TemplateData,
    vars: Vec<(String, Value<'a>)>,
    out: String,
}

/// Renders `nodes` with Prometheus' variables and dot set from `data`.
pub(crate) fn execute(nodes: &[Node], data: &TemplateData) -> Result<String, PosError> {
    let mut ex = Exec {
        data,
        vars: vec![
            ("$".into(), Value::Data(data)),
            ("$labels".into(), Value::Map(&data.labels)),
            ("$externalLabels".into(), Value::Map(&data.external_labels)),
            ("$externalURL".into(), Value::Str(data.external_url.clone())),
            ("$value".into(), Value::Float(data.value)),
        ],
        out: String::new(),
    };
    ex.list(nodes, &Value::Data(data))?;
    Ok(ex.out)
}

impl<'a> Exec<'a> {
    fn list(&mut self, nodes: &[Node], dot: &Value<'a>) -> EResult<Flow> {
        for node in nodes {
            match self.node(node, dot)? {
                Flow::Normal => {}
                flow => return Ok(flow),
            }
        }
        Ok(Flow::Normal)
    }

    fn node(&mut self, node: &Node, dot: &Value<'a>) -> EResult<Flow> {
        match node {
            Node::Text(t) => self.out.push_str(t),
            Node::Action(pipe) => {
                let v = self.pipeline(pipe, dot)?;
                if pipe.decl.is_empty() {
                    match v {
                        Value::Nil => self.out.push_str("<no value>"),
                        v => self.out.push_str(&v.display()),
                    }
                }
            }
            Node::Branch {
                with,
                arms,
                otherwise,
            } => {
                let mark = self.vars.len();
                let mut flow = None;
                for (cond, body) in arms {
                    let v = self.pipeline(cond, dot)?;
                    if v.truth() {
                        let inner = if *with { v } else { dot.clone() };
                        flow = Some(self.list(body, &inner)?);
                        break;
                    }
                }
                let flow = match (flow, otherwise) {
                    (Some(f), _) => f,
                    (None, Some(body)) => self.list(body, dot)?,
                    (None, None) => Flow::Normal,
                };
                self.vars.truncate(mark);
                return Ok(flow);
            }
            Node::Range {
                pipe,
                body,
                otherwise,
            } => {
                let mark = self.vars.len();
                let flow = self.range(pipe, body, otherwise.as_deref(), dot);
                self.vars.truncate(mark);
                return flow;
            }
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    fn range(
        &mut self,
        pipe: &Pipe,
        body: &[Node],
        otherwise: Option<&[Node]>,
        dot: &Value<'a>,
    ) -> EResult<Flow> {
        let mut bare = pipe.clone();
        bare.decl.clear();
        let v = self.pipeline(&bare, dot)?;
        let items: Vec<(Value<'a>, Value<'a>)> = match &v {
            Value::Map(m) => m
                .iter()
                .map(|(k, v)| (Value::Str(k.clone()), Value::Str(v.clone())))
                .collect(),
            Value::Int(n) => {
                if pipe.decl.len() > 1 {
                    return Err(PosError::new(
                        pipe.pos,
                        "can't use int to iterate over more than one variable",
                    ));
                }
                (0..(*n).max(0))
                    .map(|i| (Value::Int(i), Value::Int(i)))
                    .collect()
            }
            Value::Nil => Vec::new(),
            other => {
                return Err(PosError::new(
                    pipe.pos,
                    format!("range can't iterate over {}", other.display()),
                ))
            }
        };
        if items.is_empty() {
            return match otherwise {
                Some(body) => self.list(body, dot),
                None => Ok(Flow::Normal),
            };
        }
        let mark = self.vars.len();
        for (key, elem) in items {
            match pipe.decl.as_slice() {
                [] => {}
                [v] => self.vars.push((v.clone(), elem.clone())),
                [k, v, ..] => {
                    self.vars.push((k.clone(), key));
                    self.vars.push((v.clone(), elem.clone()));
                }
            }
            let flow = self.list(body, &elem)?;
            self.vars.truncate(mark);
            if let Flow::Break = flow {
                break;
            }
        }
        Ok(Flow::Normal)
    }

    fn lookup(&self, name: &str, pos: usize) -> EResult<Value<'a>> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| PosError::new(pos, format!("undefined variable: {name}")))
    }

    fn pipeline(&mut self, pipe: &Pipe, dot: &Value<'a>) -> EResult<Value<'a>> {
        let mut last: Option<Value<'a>> = None;
        for cmd in &pipe.cmds {
            last = Some(self.command(cmd, dot, last)?);
        }
        let v = last.unwrap_or(Value::Nil);
        if pipe.assign {
            for name in &pipe.decl {
                if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    slot.1 = v.clone();
                }
            }
        } else {
            for name in &pipe.decl {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn command(
        &mut self,
        cmd: &Cmd,
        dot: &Value<'a>,
        last: Option<Value<'a>>,
    ) -> EResult<Value<'a>> {
        let Some(first) = cmd.args.first() else {
            return Err(PosError::new(cmd.pos, "empty command"));
        };
        if let Term::Func(name) = &first.term {
            return self.call(name, first.pos, &cmd.args[1..], dot, last);
        }
        if cmd.args.len() > 1 || last.is_some() {
            return Err(PosError::new(
                first.pos,
                format!("can't give argument to non-function {}", first.describe()),
            ));
        }
        self.operand(first, dot)
    }

    fn call(
        &mut self,
        name: &str,
        pos: usize,
        args: &[Operand],
        dot: &Value<'a>,
        last: Option<Value<'a>>,
    ) -> EResult<Value<'a>> {
        if name == "and" || name == "or" {
            let total = args.len() + usize::from(last.is_some());
            if total == 0 {
                return Err(PosError::new(
                    pos,
                    format!("wrong number of args for {name}: want at least 1 got 0"),
                ));
            }
            let mut v = Value::Nil;
            for a in args {
                v = self.operand(a, dot)?;
                if v.truth() != (name == "and") {
                    return Ok(v);
                }
            }
            if let Some(l) = last {
                v = l;
            }
            return Ok(v);
        }
        let mut vals = Vec::with_capacity(args.len() + 1);
        for a in args {
            vals.push(self.operand(a, dot)?);
        }
        if let Some(l) = last {
            vals.push(l);
        }
        funcs::call(name, vals, self.data).map_err(|m| PosError::new(pos, m))
    }

    fn operand(&mut self, op: &Operand, dot: &Value<'a>) -> EResult<Value<'a>> {
        let base = match &op.term {
            Term::Dot => dot.clone(),
            Term::Var(name) => self.lookup(name, op.pos)?,
            Term::Func(name) => self.call(name, op.pos, &[], dot, None)?,
            Term::Str(s) => Value::Str(s.clone()),
            Term::Num(Number::Int(i)) => Value::Int(*i),
            Term::Num(Number::Float(f)) => Value::Float(*f),
            Term::Bool(b) => Value::Bool(*b),
            Term::Nil => Value::Nil,
            Term::Sub(pipe) => {
                let mark = self.vars.len();
                let v = self.pipeline(pipe, dot);
                self.vars.truncate(mark);
                v?
            }
        };
        let mut v = base;
        for f in &op.fields {
            v = self.field(&v, f, op.pos)?;
        }
        Ok(v)
    }

    fn field(&self, v: &Value<'a>, name: &str, pos: usize) -> EResult<Value<'a>> {
        match v {
            Value::Data(d) => match name {
                "Labels" => Ok(Value::Map(&d.labels)),
                "ExternalLabels" => Ok(Value::Map(&d.external_labels)),
                "ExternalURL" => Ok(Value::Str(d.external_url.clone())),
                "Value" => Ok(Value::Float(d.value)),
                _ => Err(PosError::new(
                    pos,
                    format!("can't evaluate field {name} in template data (fields: Labels, ExternalLabels, ExternalURL, Value)"),
                )),
            },
            // Prometheus executes with missingkey=zero: a missing label is "".
            Value::Map(m) => Ok(Value::Str(m.get(name).cloned().unwrap_or_default())),
            Value::Nil => Err(PosError::new(
                pos,
                format!("nil pointer evaluating interface {{}}.{name}"),
            )),
            other => Err(PosError::new(
                pos,
                format!("can't evaluate field {name} in type {}", other.type_name()),
            )),
        }
    }
}
