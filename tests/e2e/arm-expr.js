// A small evaluator of ARM template expressions ("[parameters('x')]", if(), concat(),
// createObject() ...), enough to turn deploy/containerapps-job.json into the resource
// body Azure would receive for given parameter values, so that the body can be
// type-checked against Microsoft's model of the resource. Values only Azure knows
// (reference(), resourceId(), subscription() ...) become Opaque placeholders, which
// serialize as "<text>" strings. An unknown function name throws: a misspelled
// function in the template must not pass as a placeholder.

export class Opaque {
  constructor(text) {
    this.text = text;
  }
  toJSON() {
    return `<${this.text}>`;
  }
  toString() {
    return `<${this.text}>`;
  }
}

// Functions whose value depends on the deployment (Azure evaluates them).
const OPAQUE_FUNCTIONS = new Set([
  'reference',
  'resourceId',
  'subscriptionResourceId',
  'extensionResourceId',
  'subscription',
  'resourceGroup',
  'environment',
  'tenant',
  'guid',
  'uniqueString',
  'deployment',
]);

function tokenize(src) {
  const toks = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'") {
      let s = '';
      i++;
      for (;;) {
        if (i >= src.length) throw new Error(`unterminated string in ${src}`);
        if (src[i] === "'") {
          if (src[i + 1] === "'") {
            s += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        s += src[i++];
      }
      toks.push({ t: 'str', v: s });
    } else if (/[0-9-]/.test(c)) {
      const m = /^-?[0-9]+/.exec(src.slice(i));
      toks.push({ t: 'num', v: Number(m[0]) });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i));
      toks.push({ t: 'id', v: m[0] });
      i += m[0].length;
    } else if ('(),.[]'.includes(c)) {
      toks.push({ t: c });
      i++;
    } else {
      throw new Error(`unexpected '${c}' in ${src}`);
    }
  }
  return toks;
}

function parse(src) {
  const toks = tokenize(src);
  let p = 0;
  const peek = () => toks[p];
  const take = (t) => {
    const k = toks[p++];
    if (!k || k.t !== t) throw new Error(`expected ${t} in ${src}`);
    return k;
  };
  function expr() {
    const k = toks[p++];
    if (!k) throw new Error(`unexpected end of ${src}`);
    let node;
    if (k.t === 'str' || k.t === 'num') node = { lit: k.v };
    else if (k.t === 'id') {
      take('(');
      const args = [];
      if (peek()?.t !== ')') {
        args.push(expr());
        while (peek()?.t === ',') {
          p++;
          args.push(expr());
        }
      }
      take(')');
      node = { fn: k.v, args };
    } else throw new Error(`unexpected ${k.t} in ${src}`);
    for (;;) {
      if (peek()?.t === '.') {
        p++;
        node = { of: node, prop: { lit: take('id').v } };
      } else if (peek()?.t === '[') {
        p++;
        const idx = expr();
        take(']');
        node = { of: node, prop: idx };
      } else return node;
    }
  }
  const node = expr();
  if (p !== toks.length) throw new Error(`trailing input in ${src}`);
  return node;
}

const isOpaque = (v) => v instanceof Opaque;

function truth(v, what) {
  if (typeof v !== 'boolean') throw new Error(`${what}: expected a boolean, got ${JSON.stringify(v)}`);
  return v;
}

function num(v, what) {
  if (typeof v !== 'number') throw new Error(`${what}: expected a number, got ${JSON.stringify(v)}`);
  return v;
}

const str = (v) => (isOpaque(v) ? v.toString() : typeof v === 'string' ? v : JSON.stringify(v));

// Evaluates the template's expressions for the given parameter values.
export function armEvaluator(template, paramValues) {
  const params = {};
  const varCache = new Map();
  const ev = {
    value(v) {
      if (typeof v === 'string') {
        if (v.startsWith('[[')) return v.slice(1);
        if (v.startsWith('[') && v.endsWith(']')) return ev.expr(v.slice(1, -1));
        return v;
      }
      if (Array.isArray(v)) return v.map((x) => ev.value(x));
      if (v && typeof v === 'object') {
        const out = {};
        for (const [k, x] of Object.entries(v)) out[str(ev.value(k))] = ev.value(x);
        return out;
      }
      return v;
    },
    expr(src) {
      return call(parse(src));
    },
  };

  function call(node) {
    if ('lit' in node) return node.lit;
    if ('of' in node) {
      const o = call(node.of);
      const key = call(node.prop);
      if (isOpaque(o)) return new Opaque(`${o.text}.${key}`);
      if (o == null || !(key in Object(o))) throw new Error(`no property ${key} in ${JSON.stringify(o)}`);
      return o[key];
    }
    const a = node.args.map(call);
    if (OPAQUE_FUNCTIONS.has(node.fn)) return new Opaque(`${node.fn}(${a.map(str).join(', ')})`);
    switch (node.fn) {
      case 'parameters':
        if (!(a[0] in params)) throw new Error(`parameters('${a[0]}'): no such parameter`);
        return params[a[0]];
      case 'variables': {
        if (!template.variables || !(a[0] in template.variables))
          throw new Error(`variables('${a[0]}'): no such variable`);
        if (!varCache.has(a[0])) varCache.set(a[0], ev.value(template.variables[a[0]]));
        return varCache.get(a[0]);
      }
      case 'if':
        return truth(a[0], 'if') ? a[1] : a[2];
      case 'equals':
        return JSON.stringify(a[0]) === JSON.stringify(a[1]);
      case 'not':
        return !truth(a[0], 'not');
      case 'and':
        return a.every((x) => truth(x, 'and'));
      case 'or':
        return a.some((x) => truth(x, 'or'));
      case 'greater':
        return num(a[0], 'greater') > num(a[1], 'greater');
      case 'less':
        return num(a[0], 'less') < num(a[1], 'less');
      case 'empty':
        if (isOpaque(a[0])) throw new Error('empty() of a value only Azure knows');
        return a[0] == null || (typeof a[0] === 'object' ? Object.keys(a[0]).length === 0 : a[0].length === 0);
      case 'length':
        return Array.isArray(a[0]) || typeof a[0] === 'string' ? a[0].length : Object.keys(a[0]).length;
      case 'null':
        return null;
      case 'createArray':
        return a;
      case 'createObject': {
        const o = {};
        for (let i = 0; i < a.length; i += 2) o[str(a[i])] = a[i + 1];
        return o;
      }
      case 'concat':
        if (a.every(Array.isArray)) return a.flat(1);
        if (a.some(Array.isArray)) throw new Error('concat() of arrays and strings');
        return a.map(str).join('');
      case 'format':
        return str(a[0]).replace(/\{(\d+)\}/g, (_, n) => str(a[1 + Number(n)]));
      case 'string':
        return str(a[0]);
      case 'int':
        return Math.trunc(Number(a[0]));
      case 'json':
        return JSON.parse(str(a[0]));
      case 'add':
        return num(a[0], 'add') + num(a[1], 'add');
      case 'sub':
        return num(a[0], 'sub') - num(a[1], 'sub');
      case 'mul':
        return num(a[0], 'mul') * num(a[1], 'mul');
      case 'div':
        return Math.trunc(num(a[0], 'div') / num(a[1], 'div'));
      case 'toLower':
        return str(a[0]).toLowerCase();
      default:
        throw new Error(`unknown template function ${node.fn}()`);
    }
  }

  // Parameters in declaration order: a default may refer to an earlier parameter.
  for (const [name, def] of Object.entries(template.parameters ?? {})) {
    if (name in paramValues) params[name] = paramValues[name];
    else if ('defaultValue' in def) params[name] = ev.value(def.defaultValue);
    else throw new Error(`parameter ${name} has no default and no value was given`);
  }
  for (const name of Object.keys(paramValues))
    if (!(name in params)) throw new Error(`no parameter ${name} in the template`);
  return ev;
}

// The template's resources, evaluated for the parameter values. A resource whose
// condition is false is left out, as Azure does.
export function armResources(template, paramValues) {
  const ev = armEvaluator(template, paramValues);
  const out = [];
  for (const r of template.resources) {
    if ('condition' in r && !truth(ev.value(r.condition), 'condition')) continue;
    out.push(ev.value(r));
  }
  return out;
}
