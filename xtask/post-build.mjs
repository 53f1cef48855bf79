// Trunk's post-build hook (see Trunk.toml): in release builds, shrinks what a visitor
// downloads beyond what wasm-opt does, then brings the subresource-integrity hashes in
// index.html up to date with the new bytes (a preload that no longer matches its file
// is refused by the browser).
//
// 1. The names through which the wasm module and its JavaScript glue find each other
//    (`__wbg_Window_63f67ad37e3739d2`, `wasm_bindgen__convert__closures_____invoke__h…`,
//    and the import module `./app_bg.js`, repeated for each of ~220 imports) become one
//    or two letters, in the module and in the glue alike. Their hashes do not compress:
//    they were about 7 KB of the gzipped download.
// 2. The glue and the service worker are minified with terser. (Trunk's own minifier,
//    `minify = "on_release"`, is known to drop getters from wasm-bindgen's output and
//    to give up on `export default`.) terser comes from npm beside wasm-opt: `cargo
//    xtask setup` installs both under target/tools, and it is found on PATH, as Trunk
//    finds wasm-opt.
// 3. The files whose names carry Trunk's content hash (the module, its glue, the
//    stylesheet) are compressed once, at build time, as well as their formats allow:
//    `name.br` (brotli, quality 11) and `name.gz` (gzip written by zopfli, 4% smaller
//    than zlib's best). The sync server sends these to browsers that accept them (see
//    server/src/routes/app_files.rs); so can any static host that serves precompressed
//    files. A hashed file never changes under its name, so its compressed copies cannot
//    go stale; index.html, sw.js and config.json (edited per deployment) are left to the
//    server's compression on the fly. Without zopfli (a plain `trunk build`, no `cargo
//    xtask setup`), node's own gzip at level 9 is used.

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, delimiter, dirname, join } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

async function main() {
  const staging = process.env.TRUNK_STAGING_DIR;
  const files = readdirSync(staging);
  const changed = new Set();

  for (const wasmName of files.filter((name) => name.endsWith("_bg.wasm"))) {
    const jsName = wasmName.replace(/_bg\.wasm$/, ".js");
    if (!files.includes(jsName)) continue;
    const { wasm, renamed, modules } = shortenNames(readFileSync(join(staging, wasmName)));
    let glue = readFileSync(join(staging, jsName), "utf8");
    for (const module of modules) {
      const key = JSON.stringify(module);
      // The glue names the import module once, as the key of its imports object.
      if (glue.split(key).length !== 2) throw new Error(`${jsName} names ${key} other than once`);
      glue = glue.replace(key, JSON.stringify(renamed.get(module)));
    }
    // Every identifier-like token that is an old name becomes the new one: the names are
    // long and unique, so no other token can be one of them.
    glue = glue.replace(/[A-Za-z_$][\w$]*/g, (token) => renamed.get(token) ?? token);
    writeFileSync(join(staging, wasmName), wasm);
    writeFileSync(join(staging, jsName), glue);
    changed.add(wasmName);
  }

  for (const name of readdirSync(staging).filter((name) => name.endsWith(".js"))) {
    const file = join(staging, name);
    // The service worker is a classic script; wasm-bindgen's glue is an ES module, whose
    // exports keep their names. Property names are never mangled: the wasm imports its
    // JavaScript functions by property name.
    const module = name !== "sw.js";
    execFileSync(
      "terser",
      [file, "--compress", "--mangle", "--ecma", "2020", ...(module ? ["--module"] : []), "--output", file],
      { stdio: "inherit" },
    );
    changed.add(name);
  }

  const html = join(staging, "index.html");
  const page = readFileSync(html, "utf8").replace(/<link\b[^>]*>/g, (tag) => {
    const href = tag.match(/\bhref="([^"]+)"/)?.[1];
    const integrity = tag.match(/\bintegrity="(sha256|sha384|sha512)-[^"]*"/);
    if (!href || !integrity || !changed.has(basename(href))) return tag;
    const algorithm = integrity[1];
    const digest = createHash(algorithm)
      .update(readFileSync(join(staging, basename(href))))
      .digest("base64");
    return tag.replace(integrity[0], `integrity="${algorithm}-${digest}"`);
  });
  writeFileSync(html, page);

  await precompress(staging);
}

/// Writes `name.br` and `name.gz` beside every content-hashed file of `dir`. Trunk
/// writes its 64-bit hash in hex without leading zeros: one name in sixteen has fewer
/// than sixteen digits.
async function precompress(dir) {
  const zopfli = findZopfli();
  for (const name of readdirSync(dir).filter((name) => /-[0-9a-f]{1,16}(_bg)?\.(wasm|js|css)$/.test(name))) {
    const bytes = readFileSync(join(dir, name));
    const brotli = brotliCompressSync(bytes, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
        [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
      },
    });
    const gzip = zopfli
      ? await zopfli.gzipAsync(bytes, { numiterations: 15 })
      : gzipSync(bytes, { level: constants.Z_BEST_COMPRESSION });
    writeFileSync(join(dir, `${name}.br`), brotli);
    writeFileSync(join(dir, `${name}.gz`), gzip);
  }
}

/// The zopfli package that `cargo xtask setup` installs beside terser, found through
/// the tool folder on PATH (a hook's own imports resolve from xtask/, not from there).
function findZopfli() {
  for (const bin of (process.env.PATH ?? "").split(delimiter)) {
    const modules = dirname(bin);
    if (basename(bin) === ".bin" && existsSync(join(modules, "@gfx/zopfli/package.json"))) {
      return createRequire(join(modules, "..", "package.json"))("@gfx/zopfli");
    }
  }
  return null;
}

/// The module with its import module names, import names and export names shortened
/// (exports that are not wasm-bindgen's own, such as `memory` and `main`, keep theirs),
/// and the map from each old name to its new one.
function shortenNames(bytes) {
  const renamed = new Map();
  const modules = new Set();
  let next = 0;
  const fresh = () => {
    // a, b, …, Z, ba, bb, …: never a JavaScript keyword, never a digit first.
    const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let n = next++;
    let name = "";
    do {
      name = letters[n % letters.length] + name;
      n = Math.floor(n / letters.length);
    } while (n > 0);
    return name;
  };
  const rename = (name) => {
    if (!renamed.has(name)) renamed.set(name, fresh());
    return renamed.get(name);
  };
  const isBindgenName = (name) => name.includes("__") && name.length > 8;

  let at = 8;
  const out = [bytes.subarray(0, 8)];
  while (at < bytes.length) {
    const id = bytes[at++];
    const [size, start] = readU32(bytes, at);
    const end = start + size;
    let body = bytes.subarray(start, end);
    if (id === 2 || id === 7) {
      const reader = new Reader(bytes, start);
      const count = reader.u32();
      const parts = [u32(count)];
      for (let i = 0; i < count; i++) {
        if (id === 2) {
          const module = reader.name();
          const field = reader.name();
          modules.add(module);
          parts.push(name(rename(module)), name(rename(field)), reader.importDesc());
        } else {
          const field = reader.name();
          const kept = isBindgenName(field) ? rename(field) : field;
          parts.push(name(kept), reader.exportDesc());
        }
      }
      if (reader.at !== end) throw new Error(`section ${id} did not parse to its end`);
      body = Buffer.concat(parts);
    }
    out.push(Buffer.from([id]), u32(body.length), body);
    at = end;
  }
  return { wasm: Buffer.concat(out), renamed, modules };
}

function readU32(bytes, at) {
  let result = 0;
  let shift = 0;
  for (;;) {
    const byte = bytes[at++];
    result += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if (byte < 0x80) return [result, at];
  }
}

function u32(value) {
  const out = [];
  do {
    let byte = value & 0x7f;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    out.push(byte);
  } while (value > 0);
  return Buffer.from(out);
}

function name(text) {
  const bytes = Buffer.from(text, "utf8");
  return Buffer.concat([u32(bytes.length), bytes]);
}

/// Reads the entries of the import and export sections.
class Reader {
  constructor(bytes, at) {
    this.bytes = bytes;
    this.at = at;
  }

  u32() {
    const [value, at] = readU32(this.bytes, this.at);
    this.at = at;
    return value;
  }

  name() {
    const length = this.u32();
    const text = this.bytes.toString("utf8", this.at, this.at + length);
    this.at += length;
    return text;
  }

  /// The bytes of what follows an import's names: its kind and type, copied as they are.
  importDesc() {
    const start = this.at;
    const kind = this.bytes[this.at++];
    if (kind === 0 || kind === 4) {
      if (kind === 4) this.at++; // a tag's attribute
      this.u32(); // type index
    } else if (kind === 1) {
      this.at++; // element type
      this.limits();
    } else if (kind === 2) {
      this.limits();
    } else if (kind === 3) {
      this.at += 2; // value type, mutability
    } else {
      throw new Error(`unknown import kind ${kind}`);
    }
    return this.bytes.subarray(start, this.at);
  }

  /// The bytes of what follows an export's name: its kind and index.
  exportDesc() {
    const start = this.at++;
    this.u32();
    return this.bytes.subarray(start, this.at);
  }

  limits() {
    const flags = this.bytes[this.at++];
    this.u32();
    if (flags & 1) this.u32();
  }
}

// Debug builds (`trunk serve`) are left as they are.
if (process.env.TRUNK_PROFILE === "release") await main();
