// ../../work/main/js/src/python.js
import { availableParallelism } from "node:os";
import { EventEmitter as EventEmitter2 } from "node:events";

// ../../work/main/js/src/errors.js
var PyferryError = class extends Error {
};
function brand(Class, name, code) {
  for (const [key, value] of [["name", name], ["code", code]]) {
    Object.defineProperty(Class.prototype, key, { value, writable: true, configurable: true });
  }
  return Class;
}
function define(name, code, Parent = PyferryError) {
  return brand({ [name]: class extends Parent {
  } }[name], name, code);
}
brand(PyferryError, "PyferryError", "PYFERRY_ERROR");
var PythonError = class extends PyferryError {
  constructor(info, options) {
    super(`${shortType(info.type)}: ${info.message}`, options);
    this.pythonType = info.type;
    this.pythonMessage = info.message;
    this.pythonTraceback = info.traceback;
  }
};
brand(PythonError, "PythonError", "PYFERRY_PYTHON");
var TargetError = define("TargetError", "PYFERRY_TARGET");
var TargetNotFoundError = define("TargetNotFoundError", "PYFERRY_TARGET_NOT_FOUND", TargetError);
var TargetForbiddenError = define("TargetForbiddenError", "PYFERRY_TARGET_FORBIDDEN", TargetError);
var ProtocolError = define("ProtocolError", "PYFERRY_PROTOCOL");
var VersionMismatchError = define("VersionMismatchError", "PYFERRY_VERSION_MISMATCH", ProtocolError);
var WorkerStartError = define("WorkerStartError", "PYFERRY_WORKER_START");
var NotAllowedError = define("NotAllowedError", "PYFERRY_NOT_ALLOWED", TargetForbiddenError);
var TimeoutError = define("TimeoutError", "PYFERRY_TIMEOUT");
var QueueFullError = define("QueueFullError", "PYFERRY_QUEUE_FULL");
var PoolClosedError = define("PoolClosedError", "PYFERRY_POOL_CLOSED");
var HandleError = define("HandleError", "PYFERRY_HANDLE");
var HandleReleasedError = define("HandleReleasedError", "PYFERRY_HANDLE_RELEASED", HandleError);
var HandleInvalidatedError = define("HandleInvalidatedError", "PYFERRY_HANDLE_INVALIDATED", HandleError);
var AbortError = class extends PyferryError {
  constructor(message = "The operation was aborted", options) {
    super(message, options);
  }
};
brand(AbortError, "AbortError", "ABORT_ERR");
var SerializationError = class extends PyferryError {
  constructor(reason, path2 = "", options) {
    super(path2 ? `${reason} at ${path2}` : reason, options);
    this.reason = reason;
    this.path = path2;
  }
};
brand(SerializationError, "SerializationError", "PYFERRY_SERIALIZATION");
var WorkerCrashedError = class extends PyferryError {
  constructor({ pid, exitCode, signal, stderr }, options) {
    const how = signal ? `was killed by ${signal}` : `exited with code ${exitCode}`;
    const tail = stderr?.length ? `
Last lines of its stderr:
  ${stderr.join("\n  ")}` : "";
    super(`Python worker ${pid} ${how} during the call${likelyCause(signal)}${tail}`, options);
    this.pid = pid;
    this.exitCode = exitCode;
    this.signal = signal;
    this.stderr = stderr;
  }
};
brand(WorkerCrashedError, "WorkerCrashedError", "PYFERRY_WORKER_CRASHED");
function likelyCause(signal) {
  if (signal === "SIGKILL") return " (likely out of memory, or killed from outside)";
  if (signal === "SIGSEGV" || signal === "SIGBUS") return " (a crash in native code)";
  if (signal === "SIGABRT") return " (an abort in native code)";
  return "";
}
function shortType(type) {
  return type.startsWith("builtins.") ? type.slice("builtins.".length) : type;
}
var byCode = {
  PYFERRY_TARGET: TargetError,
  PYFERRY_TARGET_NOT_FOUND: TargetNotFoundError,
  PYFERRY_TARGET_FORBIDDEN: TargetForbiddenError,
  PYFERRY_NOT_ALLOWED: NotAllowedError,
  PYFERRY_PROTOCOL: ProtocolError,
  PYFERRY_VERSION_MISMATCH: VersionMismatchError,
  // The worker's table has no such id: this client released it (or never had it).
  PYFERRY_HANDLE: HandleReleasedError
};
function fromErrorInfo(info) {
  let cause;
  const chain = Array.isArray(info.chain) ? info.chain : [];
  for (let i = chain.length - 1; i >= 0; i--) {
    cause = new PythonError(chain[i], cause === void 0 ? void 0 : { cause });
    cause.relation = chain[i].relation;
  }
  const options = cause === void 0 ? void 0 : { cause };
  let error;
  if (info.code === "PYFERRY_SERIALIZATION") {
    error = new SerializationError(info.reason ?? info.message, info.path ?? "", options);
  } else if (byCode[info.code]) {
    error = new byCode[info.code](info.message, options);
  } else {
    return new PythonError(info, options);
  }
  error.pythonType = info.type;
  error.pythonTraceback = info.traceback;
  return error;
}

// ../../work/main/js/src/protocol.js
var PROTOCOL_VERSION = 1;
var PREFIX_SIZE = 8;
var MAX_BUFFERS = 65535;
var DEFAULT_MAX_MESSAGE_BYTES = 2 ** 30;
var HELLO = 0;
var CALL = 1;
var RESULT = 2;
var ERROR = 3;
var CANCEL = 4;
var RELEASE = 5;
var CALLBACK = 6;
var CALLBACK_RESULT = 7;
var CALLBACK_ERROR = 8;
var STREAM_ITEMS = 9;
var STREAM_END = 10;
var STREAM_CREDIT = 11;
var STREAM_CLOSE = 12;
var PROGRESS = 13;
var DETACHED = 14;
var WITHDRAW = 15;
var WITHDRAWN = 16;
var MAGIC0 = 80;
var MAGIC1 = 70;
function frameChunks(header, reserve, buffers) {
  const headerLen = header.length - reserve;
  if (buffers.length > MAX_BUFFERS) {
    throw new RangeError(`a frame holds at most ${MAX_BUFFERS} buffers, not ${buffers.length}`);
  }
  if (buffers.length === 0 && reserve === PREFIX_SIZE) {
    writePrefix(header, 0, 0, headerLen);
    return [header];
  }
  const prefix = Buffer.allocUnsafe(PREFIX_SIZE + 8 * buffers.length);
  writePrefix(prefix, 0, buffers.length, headerLen);
  const chunks = [prefix, header.subarray(reserve)];
  for (let i = 0; i < buffers.length; i++) {
    const b = buffers[i];
    prefix.writeBigUInt64LE(BigInt(b.byteLength), PREFIX_SIZE + 8 * i);
    if (b.byteLength) chunks.push(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  }
  return chunks;
}
function messageBytes(chunks) {
  const total = chunks.reduce((n, c) => n + c.length, 0);
  return chunks.length === 1 ? total - PREFIX_SIZE : total - chunks[0].length;
}
function writePrefix(buf, at, count, headerLen) {
  buf[at] = MAGIC0;
  buf[at + 1] = MAGIC1;
  buf.writeUInt16LE(count, at + 2);
  buf.writeUInt32LE(headerLen, at + 4);
}
var PREFIX = 0;
var LENGTHS = 1;
var HEADER = 2;
var BODY = 3;
var FrameReader = class {
  #maxBytes;
  #onFrame;
  #state = PREFIX;
  #need = PREFIX_SIZE;
  #partial = null;
  // Buffer collecting a part that spans chunks
  #filled = 0;
  #count = 0;
  #headerLen = 0;
  #lengths = [];
  #header = null;
  #buffers = [];
  #index = 0;
  // buffer being filled in BODY
  #offset = 0;
  // bytes of it filled
  constructor(onFrame, { maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES } = {}) {
    this.#onFrame = onFrame;
    this.#maxBytes = maxMessageBytes;
  }
  // True between frames: an EOF here is clean.
  get idle() {
    return this.#state === PREFIX && this.#filled === 0;
  }
  push(chunk) {
    let at = 0;
    while (at < chunk.length) {
      if (this.#state === BODY) {
        at = this.#body(chunk, at);
        continue;
      }
      let part;
      const want = this.#need - this.#filled;
      if (this.#filled === 0 && chunk.length - at >= this.#need) {
        part = chunk.subarray(at, at + this.#need);
        at += this.#need;
      } else {
        this.#partial ??= Buffer.allocUnsafe(this.#need);
        const n = Math.min(want, chunk.length - at);
        chunk.copy(this.#partial, this.#filled, at, at + n);
        this.#filled += n;
        at += n;
        if (this.#filled < this.#need) return;
        part = this.#partial;
        this.#partial = null;
        this.#filled = 0;
      }
      this.#advance(part);
    }
  }
  #advance(part) {
    if (this.#state === PREFIX) {
      if (part[0] !== MAGIC0 || part[1] !== MAGIC1) {
        throw new ProtocolError(`bad frame magic 0x${part.subarray(0, 2).toString("hex")}, expected 0x5046`);
      }
      this.#count = part.readUInt16LE(2);
      this.#headerLen = part.readUInt32LE(4);
      if (this.#headerLen === 0) throw new ProtocolError("frame has an empty header");
      this.#checkSize(this.#headerLen);
      this.#state = LENGTHS;
      this.#need = 8 * this.#count;
      if (this.#need === 0) this.#startHeader([]);
    } else if (this.#state === LENGTHS) {
      const lengths = new Array(this.#count);
      let total = this.#headerLen;
      for (let i = 0; i < this.#count; i++) {
        const n = part.readBigUInt64LE(8 * i);
        lengths[i] = n > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(n);
        total += lengths[i];
      }
      if (total > this.#maxBytes) {
        let exact = BigInt(this.#headerLen);
        for (let i = 0; i < this.#count; i++) exact += part.readBigUInt64LE(8 * i);
        this.#checkSize(exact);
      }
      this.#startHeader(lengths);
    } else {
      this.#header = part;
      this.#startBody();
    }
  }
  #checkSize(total) {
    if (total > this.#maxBytes) {
      throw new ProtocolError(`frame of ${total} bytes exceeds the limit of ${this.#maxBytes} bytes`);
    }
  }
  #startHeader(lengths) {
    this.#lengths = lengths;
    this.#state = HEADER;
    this.#need = this.#headerLen;
  }
  #startBody() {
    let total = 0;
    const offsets = this.#lengths.map((n) => {
      const at = total;
      total += Math.ceil(n / 8) * 8;
      return at;
    });
    const memory = new ArrayBuffer(total);
    this.#buffers = this.#lengths.map((n, i) => new Uint8Array(memory, offsets[i], n));
    this.#index = 0;
    this.#offset = 0;
    this.#state = BODY;
    this.#finishBody();
  }
  #body(chunk, at) {
    const dest = this.#buffers[this.#index];
    const n = Math.min(dest.length - this.#offset, chunk.length - at);
    dest.set(chunk.subarray(at, at + n), this.#offset);
    this.#offset += n;
    this.#finishBody();
    return at + n;
  }
  // Skip buffers already complete (including empty ones); emit the frame when all are.
  #finishBody() {
    while (this.#index < this.#buffers.length && this.#offset === this.#buffers[this.#index].length) {
      this.#index++;
      this.#offset = 0;
    }
    if (this.#index < this.#buffers.length) return;
    const header = this.#header;
    const buffers = this.#buffers;
    this.#header = null;
    this.#buffers = [];
    this.#state = PREFIX;
    this.#need = PREFIX_SIZE;
    this.#onFrame(header, buffers);
  }
};

// ../../work/main/js/src/arrow.js
var EXT_ARROW = 5;
var arrow = null;
var loading = null;
function arrowLoaded() {
  return arrow !== null;
}
function loadArrow() {
  loading ??= import("apache-arrow").then(
    (module) => {
      arrow = module;
      return module;
    },
    (error) => {
      loading = null;
      throw notInstalled(error);
    }
  );
  return loading;
}
function notInstalled(error) {
  const missing = error?.code === "ERR_MODULE_NOT_FOUND" && /apache-arrow/.test(error.message);
  const reason = missing ? "apache-arrow is not installed: npm install apache-arrow" : `apache-arrow failed to load: ${error?.message ?? error}`;
  return new SerializationError(`an Arrow table crosses only with apache-arrow, and ${reason}`, "", { cause: error });
}
var TABLE = Symbol.for("apache-arrow/Table");
var RECORD_BATCH = Symbol.for("apache-arrow/RecordBatch");
function isArrowTable(value) {
  return value[TABLE] === true || value[RECORD_BATCH] === true;
}
var DeferredTable = class {
  constructor(table) {
    this.table = table;
  }
};
function tableBuffer(value, buffers) {
  const payload = Buffer.alloc(4);
  payload.writeUInt32LE(buffers.length, 0);
  if (arrow === null) {
    buffers.push(new DeferredTable(value));
    buffers.deferred = true;
  } else {
    buffers.push(ipcBytes(value));
  }
  return payload;
}
function ipcBytes(value) {
  const table = value[RECORD_BATCH] === true ? new arrow.Table(value) : value;
  return arrow.tableToIPC(table, "stream");
}
function finishFrame(header, buffers) {
  if (buffers.deferred !== true) return frameChunks(header, PREFIX_SIZE, buffers);
  return loadArrow().then(() => {
    const ready = buffers.map((b) => b instanceof DeferredTable ? ipcBytes(b.table) : b);
    return frameChunks(header, PREFIX_SIZE, ready);
  });
}
var PendingTable = class {
  constructor(bytes, index) {
    this.bytes = bytes;
    this.index = index;
  }
};
function readTable(view, buffers) {
  if (view.byteLength !== 4) throw new SerializationError(`Arrow extension of ${view.byteLength} bytes, expected 4`);
  const index = view.getUint32(0, true);
  if (index >= buffers.length) throw new SerializationError(`Arrow table refers to buffer ${index}, frame has ${buffers.length}`);
  if (arrow === null) return new PendingTable(buffers[index], index);
  return tableFromBytes(buffers[index], index);
}
function tableFromBytes(bytes, index) {
  let reader;
  try {
    reader = arrow.RecordBatchReader.from(bytes);
    reader.open();
    if (reader.schema === void 0 || reader.schema === null) throw new Error("no schema message");
    return new arrow.Table(reader.readAll());
  } catch (error) {
    throw new SerializationError(`buffer ${index} is not an Arrow IPC stream: ${error.message}`, "", { cause: error });
  }
}
var waiting = /* @__PURE__ */ new WeakMap();
function settlePending(message) {
  if (!Array.isArray(message)) return message;
  const load = loadArrow();
  const elements = [];
  for (let i = 0; i < message.length; i++) {
    const element = message[i];
    if (!holdsPending(element)) continue;
    const settled = load.then(() => replacePending(element));
    settled.catch(() => {
    });
    message[i] = settled;
    elements.push([i, settled]);
  }
  const whole = Promise.all(elements.map(([, p]) => p)).then((values) => {
    elements.forEach(([i], k) => {
      message[i] = values[k];
    });
    return message;
  });
  whole.catch(() => {
  });
  waiting.set(message, whole);
  return message;
}
function messageReady(message) {
  return waiting.get(message) ?? message;
}
function holdsPending(value) {
  if (value instanceof PendingTable) return true;
  if (value === null || typeof value !== "object") return false;
  if (Array.isArray(value)) return value.some(holdsPending);
  if (value instanceof Map) {
    for (const [k, v] of value) if (holdsPending(k) || holdsPending(v)) return true;
    return false;
  }
  return isPlain(value) && Object.values(value).some(holdsPending);
}
function replacePending(value) {
  if (value instanceof PendingTable) return tableFromBytes(value.bytes, value.index);
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = replacePending(value[i]);
  } else if (value instanceof Map) {
    const entries = [...value].map(([k, v]) => [replacePending(k), replacePending(v)]);
    value.clear();
    for (const [k, v] of entries) value.set(k, v);
  } else if (isPlain(value)) {
    for (const k of Object.keys(value)) {
      const before = value[k];
      const after = replacePending(before);
      if (after !== before) Object.defineProperty(value, k, { value: after, writable: true, enumerable: true, configurable: true });
    }
  }
  return value;
}
function isPlain(value) {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

// ../../work/main/js/src/handle.js
import { inspect } from "node:util";
var registry = new FinalizationRegistry(({ table, id }) => table.collected(id));
var targets = /* @__PURE__ */ new WeakMap();
var OWN = /* @__PURE__ */ new Set([
  "type",
  "repr",
  "id",
  "pid",
  "released",
  "get",
  "call",
  "callMethod",
  "value",
  "release",
  "toString",
  // Not remote methods either: JSON.stringify and constructor checks must not call Python.
  "toJSON",
  "constructor"
]);
var OWN_SYMBOLS = /* @__PURE__ */ new Set([Symbol.dispose, Symbol.asyncDispose, Symbol.toPrimitive, inspect.custom]);
var stateOf;
var MAKE = Symbol("make a PyHandle");
var PyHandle = class {
  #state;
  constructor(state, token) {
    if (token !== MAKE) throw new TypeError("PyHandles are made by pyferry, when a worker sends one");
    this.#state = state;
  }
  static {
    stateOf = (handle) => handle.#state;
  }
  /** Qualified Python type name, e.g. `collections.Counter`. */
  get type() {
    return this.#state.type;
  }
  /** `repr()` of the object when it crossed (at most 1000 characters). */
  get repr() {
    return this.#state.repr;
  }
  /** The id in its worker's handle table. */
  get id() {
    return this.#state.id;
  }
  /** The pid of the worker that holds the object. */
  get pid() {
    return this.#state.table.pid;
  }
  get released() {
    return this.#state.released;
  }
  // Read attribute `name` (dotted names walk further: 'shape.ndim'); resolves with its value.
  get(name, ...rest) {
    return this.#invoke(names(name, "get"), rest, { op: "get" });
  }
  // Call the object itself.
  call(...args) {
    return this.#invoke([], args, {});
  }
  // Call its method `name`.
  callMethod(name, ...args) {
    return this.#invoke(names(name, "callMethod"), args, {});
  }
  // The object itself by value (fails with SerializationError if it cannot cross).
  value(...rest) {
    return this.#invoke([], rest, { op: "get", result: "value" });
  }
  // Drop the object in Python (batched, see above). Idempotent; using the handle later
  // rejects with HandleReleasedError.
  release() {
    const state = this.#state;
    if (state.released) return;
    state.released = true;
    registry.unregister(this);
    state.table.release(state);
  }
  [Symbol.dispose]() {
    this.release();
  }
  async [Symbol.asyncDispose]() {
    this.release();
  }
  toString() {
    const { type, repr, released } = this.#state;
    return `<PyHandle ${type}${released ? " (released)" : ""}: ${repr}>`;
  }
  toJSON() {
    const { id, type, repr } = this.#state;
    return { pyHandle: id, type, repr };
  }
  [Symbol.toPrimitive]() {
    return this.toString();
  }
  [inspect.custom]() {
    return this.toString();
  }
  #invoke(path2, args, options) {
    const state = this.#state;
    try {
      checkUsable(state);
    } catch (error) {
      return Promise.reject(error);
    }
    return state.table.client.invoke([state.proxy, ...path2], args, options);
  }
};
function names(name, method) {
  if (typeof name !== "string" || name === "" || name.split(".").some((part) => part === "")) {
    throw new TypeError(`${method}() takes an attribute name such as 'shape' or 'shape.ndim'`);
  }
  return name.split(".");
}
var traps = {
  get(target, prop) {
    if (typeof prop === "symbol") return OWN_SYMBOLS.has(prop) ? member(target, prop) : void 0;
    if (prop === "then") return void 0;
    if (OWN.has(prop)) return member(target, prop);
    const functions = stateOf(target).functions;
    let method = functions.get(prop);
    if (method === void 0) {
      method = (...args) => target.callMethod(prop, ...args);
      functions.set(prop, method);
    }
    return method;
  },
  has(target, prop) {
    return OWN.has(prop) || OWN_SYMBOLS.has(prop);
  },
  set(target, prop) {
    throw new TypeError(`cannot set ${String(prop)} on a PyHandle: the object lives in Python (call one of its methods instead)`);
  },
  defineProperty(target, prop) {
    throw new TypeError(`cannot define ${String(prop)} on a PyHandle`);
  },
  deleteProperty(target, prop) {
    throw new TypeError(`cannot delete ${String(prop)} of a PyHandle`);
  }
};
function member(target, prop) {
  const value = Reflect.get(target, prop, target);
  if (typeof value !== "function" || prop === "constructor") return value;
  const functions = stateOf(target).functions;
  const key = `own:${String(prop)}`;
  let bound = functions.get(key);
  if (bound === void 0) {
    bound = value.bind(target);
    functions.set(key, bound);
  }
  return bound;
}
function handleState(value) {
  const target = targets.get(value) ?? value;
  return target instanceof PyHandle ? stateOf(target) : void 0;
}
function checkUsable(state) {
  if (state.released) {
    throw new HandleReleasedError(`${describe(state)} was released; it cannot be used any more`);
  }
  if (state.table.invalid) {
    const why = state.table.pid === void 0 ? "it was not received from a worker" : "its worker exited";
    throw new HandleInvalidatedError(`${describe(state)} is gone: ${why}`);
  }
}
function describe(state) {
  return `the handle ${state.id} (${state.type}) of worker ${state.table.pid ?? "(none)"}`;
}
var HandleTable = class _HandleTable {
  #send;
  #onEmpty;
  #live = /* @__PURE__ */ new Set();
  // ids handed out and not released
  #batch = [];
  // ids for the next RELEASE
  #scheduled = false;
  invalid = false;
  // client: what handles call through ({ invoke(target, args, options) }); owner: the
  // worker; send(ids) writes a RELEASE; onEmpty() runs when the last live handle is released.
  constructor({ pid, client, owner = null, send, onEmpty }) {
    this.pid = pid;
    this.client = client;
    this.owner = owner;
    this.#send = send;
    this.#onEmpty = onEmpty;
  }
  // A table no worker stands behind: handles decoded outside any worker (tests) are unusable.
  static detached() {
    const table = new _HandleTable({ pid: void 0, client: null, send: () => {
    } });
    table.invalid = true;
    return table;
  }
  // Live handles: made and not yet released or collected.
  get size() {
    return this.#live.size;
  }
  // A HANDLE arrived: make the PyHandle and the Proxy users hold.
  adopt(id, type, repr) {
    const state = { table: this, id, type, repr, released: false, unsent: 0, releaseWhenSent: false, functions: /* @__PURE__ */ new Map(), proxy: null };
    const handle = new PyHandle(state, MAKE);
    const proxy = new Proxy(handle, traps);
    state.proxy = proxy;
    targets.set(proxy, handle);
    if (!this.invalid) {
      this.#live.add(id);
      registry.register(handle, { table: this, id }, handle);
    }
    return proxy;
  }
  // A call that names the handle was encoded: its RELEASE waits until that call is sent or dropped.
  hold(state) {
    state.unsent++;
  }
  unhold(state) {
    if (--state.unsent === 0 && state.releaseWhenSent) this.#queue(state.id);
  }
  // Released by the user.
  release(state) {
    if (!this.#live.delete(state.id)) return;
    if (state.unsent > 0) state.releaseWhenSent = true;
    else this.#queue(state.id);
    if (this.#live.size === 0) this.#onEmpty?.();
  }
  // Garbage-collected unreleased (no queued call can hold it: a call holds its handles).
  collected(id) {
    if (!this.#live.delete(id)) return;
    this.#queue(id);
    if (this.#live.size === 0) this.#onEmpty?.();
  }
  // The worker exited: every handle of it is invalid, nothing more is sent.
  invalidate() {
    this.invalid = true;
    this.#live.clear();
    this.#batch = [];
  }
  #queue(id) {
    if (this.invalid) return;
    this.#batch.push(id);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      const ids = this.#batch;
      this.#batch = [];
      if (!this.invalid && ids.length) this.#send(ids);
    });
  }
};

// ../../work/main/js/src/msgpack.js
var textDecoder = new TextDecoder("utf-8", { fatal: true });
var Writer = class {
  constructor(reserve = 0, size = 256) {
    this.buf = Buffer.allocUnsafe(Math.max(size, reserve + 16));
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    this.pos = reserve;
  }
  ensure(n) {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }
  nil() {
    this.ensure(1);
    this.buf[this.pos++] = 192;
  }
  bool(value) {
    this.ensure(1);
    this.buf[this.pos++] = value ? 195 : 194;
  }
  // A safe integer (the caller checked Number.isSafeInteger and not -0).
  int(n) {
    this.ensure(9);
    const b = this.buf;
    const v = this.view;
    if (n >= 0) {
      if (n < 128) b[this.pos++] = n;
      else if (n < 256) {
        b[this.pos++] = 204;
        b[this.pos++] = n;
      } else if (n < 65536) {
        b[this.pos++] = 205;
        v.setUint16(this.pos, n);
        this.pos += 2;
      } else if (n < 4294967296) {
        b[this.pos++] = 206;
        v.setUint32(this.pos, n);
        this.pos += 4;
      } else {
        b[this.pos++] = 207;
        v.setBigUint64(this.pos, BigInt(n));
        this.pos += 8;
      }
    } else if (n >= -32) b[this.pos++] = n & 255;
    else if (n >= -128) {
      b[this.pos++] = 208;
      v.setInt8(this.pos++, n);
    } else if (n >= -32768) {
      b[this.pos++] = 209;
      v.setInt16(this.pos, n);
      this.pos += 2;
    } else if (n >= -2147483648) {
      b[this.pos++] = 210;
      v.setInt32(this.pos, n);
      this.pos += 4;
    } else {
      b[this.pos++] = 211;
      v.setBigInt64(this.pos, BigInt(n));
      this.pos += 8;
    }
  }
  // A BigInt in [-2**63, 2**64): written in the smallest form, like any integer.
  bigint(n) {
    if (n >= -0x80000000n && n < 0x100000000n) return this.int(Number(n));
    this.ensure(9);
    if (n >= 0n) {
      this.buf[this.pos++] = 207;
      this.view.setBigUint64(this.pos, n);
    } else {
      this.buf[this.pos++] = 211;
      this.view.setBigInt64(this.pos, n);
    }
    this.pos += 8;
  }
  float(x) {
    this.ensure(9);
    this.buf[this.pos++] = 203;
    this.view.setFloat64(this.pos, x);
    this.pos += 8;
  }
  str(s) {
    const n = Buffer.byteLength(s, "utf8");
    this.#header(n, 160, 31, 217, 218, 219, n);
    this.pos += this.buf.utf8Write(s, this.pos, n);
  }
  bin(bytes) {
    const n = bytes.byteLength;
    this.#header(n, -1, -1, 196, 197, 198, n);
    this.buf.set(bytes, this.pos);
    this.pos += n;
  }
  arrayHeader(n) {
    this.#header(n, 144, 15, -1, 220, 221, 0);
  }
  mapHeader(n) {
    this.#header(n, 128, 15, -1, 222, 223, 0);
  }
  ext(type, payload) {
    const n = payload.byteLength;
    const fixed = { 1: 212, 2: 213, 4: 214, 8: 215, 16: 216 }[n];
    this.ensure(6 + n);
    if (fixed !== void 0) this.buf[this.pos++] = fixed;
    else this.#header(n, -1, -1, 199, 200, 201, 0);
    this.view.setInt8(this.pos++, type);
    this.buf.set(payload, this.pos);
    this.pos += n;
  }
  // Length header: fix form up to `fixMax`, then 8-, 16- and 32-bit forms (-1: form absent).
  #header(n, fix, fixMax, m8, m16, m32, extra) {
    if (n > 4294967295) throw new RangeError(`length ${n} does not fit a MessagePack header`);
    this.ensure(5 + extra);
    if (n <= fixMax) this.buf[this.pos++] = fix | n;
    else if (m8 >= 0 && n < 256) {
      this.buf[this.pos++] = m8;
      this.buf[this.pos++] = n;
    } else if (n < 65536) {
      this.buf[this.pos++] = m16;
      this.view.setUint16(this.pos, n);
      this.pos += 2;
    } else {
      this.buf[this.pos++] = m32;
      this.view.setUint32(this.pos, n);
      this.pos += 4;
    }
  }
};
var Reader = class {
  constructor(ext, { maxDepth = 512 } = {}) {
    this.ext = ext;
    this.maxDepth = maxDepth;
  }
  decode(buf) {
    this.#start(buf);
    const value = this.read();
    if (this.pos !== buf.length) {
      throw new RangeError(`${buf.length - this.pos} bytes left after the MessagePack value`);
    }
    return value;
  }
  // The first `n` items of the array `buf` holds, without reading the rest of it.
  head(buf, n) {
    this.#start(buf);
    const b = buf[this.#need(1)];
    const length = b >= 144 && b < 160 ? b & 15 : -1;
    if (length < n) throw new RangeError(`expected an array of at least ${n} items`);
    return Array.from({ length: n }, () => this.read());
  }
  #start(buf) {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = 0;
    this.depth = 0;
    this.pending = 0;
  }
  #need(n) {
    if (this.pos + n > this.buf.length) {
      throw new RangeError(`MessagePack data truncated: need ${n} bytes at offset ${this.pos}`);
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }
  read() {
    const b = this.buf[this.#need(1)];
    const v = this.view;
    if (b < 128) return b;
    if (b < 144) return this.#map(b & 15);
    if (b < 160) return this.#array(b & 15);
    if (b < 192) return this.#str(b & 31);
    if (b >= 224) return b - 256;
    switch (b) {
      case 192:
        return null;
      case 194:
        return false;
      case 195:
        return true;
      case 196:
        return this.#bin(this.buf[this.#need(1)]);
      case 197:
        return this.#bin(v.getUint16(this.#need(2)));
      case 198:
        return this.#bin(v.getUint32(this.#need(4)));
      case 199:
        return this.#ext(this.buf[this.#need(1)]);
      case 200:
        return this.#ext(v.getUint16(this.#need(2)));
      case 201:
        return this.#ext(v.getUint32(this.#need(4)));
      case 202:
        return v.getFloat32(this.#need(4));
      case 203:
        return v.getFloat64(this.#need(8));
      case 204:
        return this.buf[this.#need(1)];
      case 205:
        return v.getUint16(this.#need(2));
      case 206:
        return v.getUint32(this.#need(4));
      case 207:
        return this.#u64(this.#need(8));
      case 208:
        return v.getInt8(this.#need(1));
      case 209:
        return v.getInt16(this.#need(2));
      case 210:
        return v.getInt32(this.#need(4));
      case 211:
        return this.#i64(this.#need(8));
      case 212:
        return this.#ext(1);
      case 213:
        return this.#ext(2);
      case 214:
        return this.#ext(4);
      case 215:
        return this.#ext(8);
      case 216:
        return this.#ext(16);
      case 217:
        return this.#str(this.buf[this.#need(1)]);
      case 218:
        return this.#str(v.getUint16(this.#need(2)));
      case 219:
        return this.#str(v.getUint32(this.#need(4)));
      case 220:
        return this.#array(v.getUint16(this.#need(2)));
      case 221:
        return this.#array(v.getUint32(this.#need(4)));
      case 222:
        return this.#map(v.getUint16(this.#need(2)));
      case 223:
        return this.#map(v.getUint32(this.#need(4)));
      default:
        throw new RangeError(`invalid MessagePack byte 0x${b.toString(16)} at offset ${this.pos - 1}`);
    }
  }
  // 64-bit integers: a number when it is safe, a BigInt otherwise.
  #u64(at) {
    const hi = this.view.getUint32(at);
    if (hi < 2097152) return hi * 4294967296 + this.view.getUint32(at + 4);
    return this.view.getBigUint64(at);
  }
  #i64(at) {
    const n = this.view.getBigInt64(at);
    return n >= -9007199254740991n && n <= 9007199254740991n ? Number(n) : n;
  }
  #str(n) {
    const at = this.#need(n);
    return textDecoder.decode(this.buf.subarray(at, at + n));
  }
  #bin(n) {
    const at = this.#need(n);
    return Buffer.from(this.buf.subarray(at, at + n));
  }
  #ext(n) {
    const type = this.view.getInt8(this.#need(1));
    const at = this.#need(n);
    return this.ext(type, this.buf.subarray(at, at + n));
  }
  #enter(n) {
    if (++this.depth > this.maxDepth) throw new RangeError(`nesting deeper than ${this.maxDepth}`);
    if (this.pending + n > this.buf.length - this.pos) {
      throw new RangeError(`MessagePack data truncated: ${n} elements declared at offset ${this.pos}, ${this.buf.length - this.pos} bytes left for them and ${this.pending} more`);
    }
    this.pending += n;
  }
  #array(n) {
    this.#enter(n);
    const out = new Array(n);
    for (let i = 0; i < n; i++) {
      this.pending--;
      out[i] = this.read();
    }
    this.depth--;
    return out;
  }
  #map(n) {
    this.#enter(2 * n);
    const keys = new Array(n);
    const values = new Array(n);
    let allStrings = true;
    for (let i = 0; i < n; i++) {
      this.pending--;
      keys[i] = this.read();
      this.pending--;
      values[i] = this.read();
      if (typeof keys[i] !== "string") allStrings = false;
    }
    this.depth--;
    if (!allStrings) return new Map(keys.map((k, i) => [k, values[i]]));
    const out = {};
    for (let i = 0; i < n; i++) {
      if (keys[i] === "__proto__") {
        Object.defineProperty(out, keys[i], { value: values[i], enumerable: true, writable: true, configurable: true });
      } else out[keys[i]] = values[i];
    }
    return out;
  }
};

// ../../work/main/js/src/ndarray.js
var TIME_UNITS = ["Y", "M", "W", "D", "h", "m", "s", "ms", "us", "ns", "ps", "fs", "as"];
var DTYPES = {
  bool: [Uint8Array, 1],
  int8: [Int8Array, 1],
  uint8: [Uint8Array, 1],
  int16: [Int16Array, 1],
  uint16: [Uint16Array, 1],
  int32: [Int32Array, 1],
  uint32: [Uint32Array, 1],
  int64: [BigInt64Array, 1],
  uint64: [BigUint64Array, 1],
  float32: [Float32Array, 1],
  float64: [Float64Array, 1],
  complex64: [Float32Array, 2],
  complex128: [Float64Array, 2]
};
for (const kind of ["datetime64", "timedelta64"]) {
  for (const unit of TIME_UNITS) DTYPES[`${kind}[${unit}]`] = [BigInt64Array, 1];
}
var STANDALONE = /* @__PURE__ */ new Set([
  "int8",
  "int16",
  "uint16",
  "int32",
  "uint32",
  "int64",
  "uint64",
  "float32",
  "float64"
]);
function dtypeOf(data) {
  if (data instanceof Uint8Array || data instanceof Uint8ClampedArray) return "uint8";
  if (data instanceof Float64Array) return "float64";
  if (data instanceof Float32Array) return "float32";
  if (data instanceof Int32Array) return "int32";
  if (data instanceof BigInt64Array) return "int64";
  if (data instanceof Int8Array) return "int8";
  if (data instanceof Int16Array) return "int16";
  if (data instanceof Uint16Array) return "uint16";
  if (data instanceof Uint32Array) return "uint32";
  if (data instanceof BigUint64Array) return "uint64";
  return void 0;
}
function fits(data, Type) {
  return data instanceof Type || Type === Uint8Array && data instanceof Uint8ClampedArray;
}
var Complex = class {
  constructor(re, im = 0) {
    this.re = re;
    this.im = im;
  }
  toString() {
    return `(${this.re}${this.im < 0 || Object.is(this.im, -0) ? "-" : "+"}${Math.abs(this.im)}j)`;
  }
};
var NDArray = class _NDArray {
  constructor(data, shape, dtype) {
    if (!ArrayBuffer.isView(data) || data instanceof DataView) {
      throw new TypeError("NDArray data must be a TypedArray");
    }
    dtype ??= dtypeOf(data);
    const entry = DTYPES[dtype];
    if (entry === void 0) {
      const plain = Object.keys(DTYPES).filter((name) => !name.includes("["));
      throw new TypeError(`unknown dtype ${JSON.stringify(dtype)}; one of: ${plain.join(", ")}, datetime64[unit], timedelta64[unit] (unit: ${TIME_UNITS.join(", ")})`);
    }
    if (!fits(data, entry[0])) {
      throw new TypeError(`dtype ${dtype} needs a ${entry[0].name}, got ${data.constructor.name}`);
    }
    const count = data.length / entry[1];
    shape ??= [count];
    if (!Array.isArray(shape) || !shape.every((n) => Number.isSafeInteger(n) && n >= 0)) {
      throw new TypeError("NDArray shape must be an array of non-negative integers");
    }
    const size = shape.reduce((a, b) => a * b, 1);
    if (size !== count) {
      throw new RangeError(`shape [${shape}] holds ${size} elements, data holds ${count}`);
    }
    this.data = data;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
  }
  get ndim() {
    return this.shape.length;
  }
  // Number of elements (the product of the shape).
  get size() {
    return this.data.length / DTYPES[this.dtype][1];
  }
  // Element at a full index, e.g. `a.get(1, 2)`; negative indices count from the end.
  get(...index) {
    if (index.length !== this.shape.length) {
      throw new RangeError(`index has ${index.length} dimensions, array has ${this.shape.length}`);
    }
    let flat = 0;
    for (let d = 0; d < index.length; d++) {
      flat = flat * this.shape[d] + this.#axisIndex(index[d], d);
    }
    return this.#element(flat);
  }
  // The i-th sub-array along the first axis, sharing memory: a TypedArray for a
  // 2-d numeric array, an NDArray otherwise, an element for a 1-d array.
  row(i) {
    if (this.shape.length === 0) throw new RangeError("a 0-d array has no rows");
    i = this.#axisIndex(i, 0);
    if (this.shape.length === 1) return this.#element(i);
    const rest = this.shape.slice(1);
    const per = rest.reduce((a, b) => a * b, 1) * DTYPES[this.dtype][1];
    const data = this.data.subarray(i * per, (i + 1) * per);
    if (rest.length === 1 && STANDALONE.has(this.dtype)) return data;
    return new _NDArray(data, rest, this.dtype);
  }
  // Nested plain arrays of numbers, BigInts, booleans or Complex values.
  toArray() {
    const build = (dim, offset) => {
      if (dim === this.shape.length) return this.#element(offset);
      const out = new Array(this.shape[dim]);
      const stride = this.shape.slice(dim + 1).reduce((a, b) => a * b, 1);
      for (let i = 0; i < out.length; i++) out[i] = build(dim + 1, offset + i * stride);
      return out;
    };
    return build(0, 0);
  }
  #axisIndex(i, d) {
    const n = this.shape[d];
    if (!Number.isInteger(i) || i < -n || i >= n) {
      throw new RangeError(`index ${i} is out of bounds for axis ${d} with size ${n}`);
    }
    return i < 0 ? i + n : i;
  }
  #element(flat) {
    if (this.dtype === "bool") return this.data[flat] !== 0;
    if (DTYPES[this.dtype][1] === 2) return new Complex(this.data[2 * flat], this.data[2 * flat + 1]);
    return this.data[flat];
  }
};

// ../../work/main/js/src/proxy.js
import { inspect as inspect2 } from "node:util";
var modules = /* @__PURE__ */ new WeakSet();
var DOTTED = /^[^.]+(\.[^.]+)*$/;
function moduleProxy(client, path2) {
  if (typeof path2 !== "string" || !DOTTED.test(path2)) {
    throw new TypeError(`a module name is a non-empty dotted name such as 'numpy' or 'scipy.optimize', not ${inspect2(path2)}`);
  }
  const label = `<PyModule ${path2}>`;
  const describe3 = () => label;
  const target = function PyModule() {
  };
  Object.defineProperty(target, inspect2.custom, { value: describe3 });
  const proxy = new Proxy(target, {
    get(_, prop) {
      if (typeof prop === "symbol") return prop === inspect2.custom || prop === Symbol.toPrimitive ? describe3 : void 0;
      if (prop === "then" || prop === "toJSON") return void 0;
      if (prop === "toString") return describe3;
      return moduleProxy(client, `${path2}.${prop}`);
    },
    apply(_, thisArg, args) {
      return client.call(path2, ...args);
    },
    construct() {
      throw new TypeError(`${label} is called without new: calling a Python class makes an instance`);
    },
    set(_, prop) {
      throw new TypeError(`cannot set ${String(prop)} on ${label}: it names a Python object, it does not hold one`);
    },
    defineProperty(_, prop) {
      throw new TypeError(`cannot define ${String(prop)} on ${label}`);
    },
    deleteProperty(_, prop) {
      throw new TypeError(`cannot delete ${String(prop)} of ${label}`);
    }
  });
  modules.add(proxy);
  return proxy;
}
function isModuleProxy(value) {
  return modules.has(value);
}

// ../../work/main/js/src/codec.js
var EXT_NDARRAY = 1;
var EXT_COMPLEX = 2;
var EXT_TIMESTAMP = -1;
var EXT_HANDLE = 3;
var EXT_CALLBACK = 4;
var RESERVED_EXTENSIONS = {};
var DTYPE_CODES = {
  bool: 1,
  int8: 2,
  uint8: 3,
  int16: 4,
  uint16: 5,
  int32: 6,
  uint32: 7,
  int64: 8,
  uint64: 9,
  float32: 10,
  float64: 11,
  complex64: 12,
  complex128: 13
};
var DTYPE_NAMES = Object.fromEntries(Object.entries(DTYPE_CODES).map(([k, v]) => [v, k]));
var TIME_CODES = { datetime64: 14, timedelta64: 15 };
var TIME_KINDS = { 14: "datetime64", 15: "timedelta64" };
var UNIT_CODES = Object.fromEntries(Object.keys(TIME_CODES).flatMap(
  (kind) => TIME_UNITS.map((unit, i) => [`${kind}[${unit}]`, i + 1])
));
var MAX_DEPTH = 512;
var MAP_KEY = Symbol("map key");
var INT64_MIN = -(2n ** 63n);
var UINT64_MAX = 2n ** 64n - 1n;
var Kwargs = class {
  constructor(values) {
    if (values === null || typeof values !== "object" || Array.isArray(values)) {
      throw new TypeError("kw() takes a plain object of keyword arguments");
    }
    this.values = values;
  }
};
function kw(values) {
  return new Kwargs(values);
}
var Refs = class {
  // Made by the first handle or function met: most messages name none.
  handles = null;
  // Set of handle states
  callbacks = null;
  // Map callback id -> function
  #ids = null;
  // Map function -> callback id
  #nextCallbackId;
  // table: the worker the message goes to, if already known (a callback's answer);
  // nextCallbackId: () => a new id, or null where no function may cross.
  constructor({ table = null, nextCallbackId = null } = {}) {
    this.table = table;
    this.#nextCallbackId = nextCallbackId;
  }
  handle(state) {
    checkUsable(state);
    if (this.table === null) this.table = state.table;
    else if (state.table !== this.table) {
      throw new HandleError(`${describe(state)} cannot go to worker ${this.table.pid}: a call can only name handles of the worker that runs it`);
    }
    this.handles ??= /* @__PURE__ */ new Set();
    this.handles.add(state);
    return state.id;
  }
  callback(fn) {
    if (this.#nextCallbackId === null) throw new PathError("a function can only cross in the arguments of a call");
    this.#ids ??= /* @__PURE__ */ new Map();
    this.callbacks ??= /* @__PURE__ */ new Map();
    let id = this.#ids.get(fn);
    if (id === void 0) {
      id = this.#nextCallbackId();
      this.#ids.set(fn, id);
      this.callbacks.set(id, fn);
    }
    return id;
  }
};
var outgoing = null;
function u64(n) {
  const payload = Buffer.alloc(8);
  payload.writeBigUInt64LE(BigInt(n), 0);
  return payload;
}
var PathError = class extends Error {
  constructor(reason) {
    super(reason);
    this.segments = [];
  }
};
function segment(key) {
  if (typeof key === "number") return `[${key}]`;
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}
function describe2(value) {
  if (value === null) return "null";
  if (typeof value !== "object") return typeof value;
  return value.constructor?.name ?? "object with a null prototype";
}
function isPlainObject(value) {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
function writeValue(w, value, buffers, depth) {
  switch (typeof value) {
    case "number":
      if (Number.isSafeInteger(value) && !(value === 0 && 1 / value < 0)) w.int(value);
      else w.float(value);
      return;
    case "string":
      if (!value.isWellFormed()) throw new PathError("string has a lone surrogate (not valid Unicode)");
      w.str(value);
      return;
    case "boolean":
      w.bool(value);
      return;
    case "undefined":
      w.nil();
      return;
    case "bigint":
      if (value < INT64_MIN || value > UINT64_MAX) throw new PathError(`BigInt ${value} does not fit in 64 bits`);
      w.bigint(value);
      return;
    case "object":
      if (value === null) return w.nil();
      if (depth >= MAX_DEPTH) throw new PathError(`nesting deeper than ${MAX_DEPTH} (a cycle?)`);
      return writeObject(w, value, buffers, depth + 1);
    case "function":
      if (isModuleProxy(value)) {
        throw new PathError(`${String(value)} names a Python object and cannot cross; pass the value of py.get() instead`);
      }
      if (outgoing === null) throw new PathError("a function can only cross in the arguments of a call");
      w.ext(EXT_CALLBACK, u64(outgoing.callback(value)));
      return;
    default:
      throw new PathError(`a ${typeof value} cannot cross by value`);
  }
}
function writeObject(w, value, buffers, depth) {
  if (Array.isArray(value)) {
    w.arrayHeader(value.length);
    for (let i = 0; i < value.length; i++) writeChild(w, value[i], buffers, depth, i);
  } else if (ArrayBuffer.isView(value)) {
    if (value instanceof Uint8Array) w.bin(value);
    else if (value instanceof DataView) w.bin(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
    else {
      const dtype = dtypeOf(value);
      if (dtype === void 0) throw new PathError(`a ${describe2(value)} has no numpy dtype that can cross`);
      writeArray(w, value, [value.length], dtype, buffers);
    }
  } else if (value instanceof NDArray) {
    writeArray(w, value.data, value.shape, value.dtype, buffers);
  } else if (value instanceof Complex) {
    const payload = Buffer.allocUnsafe(16);
    payload.writeDoubleLE(value.re, 0);
    payload.writeDoubleLE(value.im, 8);
    w.ext(EXT_COMPLEX, payload);
  } else if (value instanceof Date) {
    w.ext(EXT_TIMESTAMP, timestamp(value));
  } else if (value instanceof Map) {
    w.mapHeader(value.size);
    for (const [k, v] of value) {
      writeChild(w, k, buffers, depth, MAP_KEY);
      writeChild(w, v, buffers, depth, k);
    }
  } else if (value instanceof ArrayBuffer) {
    w.bin(new Uint8Array(value));
  } else if (value instanceof Kwargs) {
    throw new PathError("kw() is only valid at the end of the arguments (before or after opts())");
  } else if (isPlainObject(value)) {
    const keys = Object.keys(value);
    w.mapHeader(keys.length);
    for (const k of keys) {
      if (!k.isWellFormed()) throw new PathError(`key ${JSON.stringify(k)} has a lone surrogate (not valid Unicode)`);
      w.str(k);
      writeChild(w, value[k], buffers, depth, k);
    }
  } else if (isArrowTable(value)) {
    w.ext(EXT_ARROW, tableBuffer(value, buffers));
  } else if (handleState(value) !== void 0) {
    if (outgoing === null) throw new PathError("a PyHandle can only cross in a call or a callback's answer");
    w.ext(EXT_HANDLE, u64(outgoing.handle(handleState(value))));
  } else {
    throw new PathError(`a ${describe2(value)} cannot cross by value`);
  }
}
function writeChild(w, value, buffers, depth, key) {
  try {
    writeValue(w, value, buffers, depth);
  } catch (error) {
    if (error instanceof PathError && key !== MAP_KEY) error.segments.push(segment(key));
    throw error;
  }
}
function writeArray(w, data, shape, dtype, buffers) {
  if (shape.length > 64) throw new PathError(`an array of ${shape.length} dimensions (numpy allows 64)`);
  const payload = Buffer.alloc(8 + 8 * shape.length);
  payload.writeUInt32LE(buffers.length, 0);
  const unit = UNIT_CODES[dtype];
  payload[4] = unit === void 0 ? DTYPE_CODES[dtype] : TIME_CODES[dtype.slice(0, dtype.indexOf("["))];
  payload[5] = shape.length;
  payload[6] = unit ?? 0;
  for (let i = 0; i < shape.length; i++) payload.writeBigUInt64LE(BigInt(shape[i]), 8 + 8 * i);
  buffers.push(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  w.ext(EXT_NDARRAY, payload);
}
function timestamp(date) {
  const ms = date.getTime();
  if (Number.isNaN(ms)) throw new PathError("an invalid Date cannot cross");
  const sec = Math.floor(ms / 1e3);
  const nsec = (ms - sec * 1e3) * 1e6;
  if (sec >= 0 && sec < 2 ** 34) {
    if (nsec === 0 && sec < 2 ** 32) {
      const out3 = Buffer.allocUnsafe(4);
      out3.writeUInt32BE(sec);
      return out3;
    }
    const out2 = Buffer.allocUnsafe(8);
    out2.writeBigUInt64BE(BigInt(nsec) << 34n | BigInt(sec));
    return out2;
  }
  const out = Buffer.allocUnsafe(12);
  out.writeUInt32BE(nsec, 0);
  out.writeBigInt64BE(BigInt(sec), 4);
  return out;
}
function fail(error, root) {
  if (!(error instanceof PathError)) throw error;
  const segments = error.segments.reverse();
  const path2 = segments.length <= 12 ? segments.join("") : `${segments.slice(0, 6).join("")}\u2026(${segments.length - 10} levels)\u2026${segments.slice(-4).join("")}`;
  throw new SerializationError(error.message, root + path2);
}
function encodeMessage(message, root = "message", refs = null) {
  const w = new Writer(PREFIX_SIZE);
  const buffers = [];
  const outer = outgoing;
  outgoing = refs;
  try {
    writeValue(w, message, buffers, 0);
  } catch (error) {
    fail(error, root);
  } finally {
    outgoing = outer;
  }
  return finishFrame(w.buf.subarray(0, w.pos), buffers);
}
function encodeAnswer(kind, id, value, refs) {
  const w = new Writer(PREFIX_SIZE);
  const buffers = [];
  const outer = outgoing;
  outgoing = refs;
  w.arrayHeader(3);
  w.int(kind);
  w.int(id);
  try {
    writeValue(w, value, buffers, 1);
  } catch (error) {
    fail(error, "result");
  } finally {
    outgoing = outer;
  }
  return finishFrame(w.buf.subarray(0, w.pos), buffers);
}
function encodeCall(kind, id, target, args, kwargs, options, refs = new Refs()) {
  const w = new Writer(PREFIX_SIZE);
  const buffers = [];
  const outer = outgoing;
  let optionsAt;
  outgoing = refs;
  w.arrayHeader(options === void 0 ? 5 : 6);
  w.int(kind);
  w.int(id);
  let root = "target";
  try {
    if (typeof target === "string") w.str(target);
    else writeValue(w, target, buffers, 1);
    root = "args";
    w.arrayHeader(args.length);
    for (let i = 0; i < args.length; i++) writeChild(w, args[i], buffers, 2, i);
    root = "kwargs";
    if (kwargs === void 0) w.nil();
    else writeValue(w, kwargs, buffers, 1);
    root = "options";
    if (options !== void 0) {
      optionsAt = w.pos - PREFIX_SIZE;
      writeValue(w, options, buffers, 1);
    }
  } catch (error) {
    fail(error, root);
  } finally {
    outgoing = outer;
  }
  const chunks = finishFrame(w.buf.subarray(0, w.pos), buffers);
  if (chunks instanceof Promise) return chunks.then((done) => Object.assign(done, { optionsAt }));
  return Object.assign(chunks, { optionsAt });
}
var AHEAD_KEY = Buffer.from([165, ...Buffer.from("ahead"), 195]);
function markAhead(chunks) {
  const single = chunks.length === 1;
  const header = single ? chunks[0].subarray(PREFIX_SIZE) : chunks[1];
  const at = chunks.optionsAt;
  const added = at === void 0 ? 1 + AHEAD_KEY.length : AHEAD_KEY.length;
  const start = single ? PREFIX_SIZE : 0;
  const out = Buffer.allocUnsafe(start + header.length + added);
  header.copy(out, start);
  if (at === void 0) {
    out[start] = 150;
    out[start + header.length] = 129;
  } else {
    const map = out[start + at];
    if (map < 128 || map >= 143) throw new RangeError("CALL options must be a fixmap of under 15 entries");
    out[start + at] = map + 1;
  }
  AHEAD_KEY.copy(out, out.length - AHEAD_KEY.length);
  const prefix = single ? out : Buffer.from(chunks[0]);
  if (single) chunks[0].copy(out, 0, 0, PREFIX_SIZE);
  prefix.writeUInt32LE(header.length + added, 4);
  return single ? [out] : [prefix, out, ...chunks.slice(2)];
}
function peekEnvelope(header) {
  try {
    const [kind, id] = new Reader(() => void 0).head(header, 2);
    return Number.isSafeInteger(kind) && Number.isSafeInteger(id) ? [kind, id] : void 0;
  } catch {
    return void 0;
  }
}
function decodeMessage(header, buffers, context = void 0) {
  let bad = null;
  let pending = false;
  const reader = new Reader((type, data) => {
    if (type === EXT_CALLBACK) {
      throw new ProtocolError("a CALLBACK (extension type 4) in a message to the client: only calls carry JS functions");
    }
    if (type !== EXT_NDARRAY && type !== EXT_COMPLEX && type !== EXT_TIMESTAMP && type !== EXT_ARROW && type !== EXT_HANDLE) {
      throw new ProtocolError(unknownExtension(type));
    }
    if (bad !== null) return null;
    if (type === EXT_ARROW && !arrowLoaded()) pending = true;
    try {
      return type === EXT_HANDLE ? readHandle(data, context) : readExt(type, data, buffers);
    } catch (error) {
      bad = error instanceof SerializationError ? error : new SerializationError(`malformed extension type ${type}: ${error.message}`, "", { cause: error });
      return null;
    }
  });
  let message;
  try {
    message = reader.decode(header);
  } catch (error) {
    if (error instanceof ProtocolError) throw error;
    throw bad ?? new SerializationError(`undecodable message: ${error.message}`, "", { cause: error });
  }
  if (bad !== null) throw bad;
  return pending ? settlePending(message) : message;
}
function unknownExtension(type) {
  const reserved = RESERVED_EXTENSIONS[type];
  return reserved === void 0 ? `unknown extension type ${type}: not in protocol version 1` : `extension type ${type} (${reserved}) is reserved, not in protocol version 1`;
}
var utf8 = new TextDecoder("utf-8", { fatal: true });
var detached = null;
function readHandle(data, context) {
  if (data.length < 8) throw new SerializationError(`handle extension of ${data.length} bytes, expected at least 8`);
  const big = new DataView(data.buffer, data.byteOffset, 8).getBigUint64(0, true);
  if (big === 0n) throw new SerializationError("handle id 0 (ids start at 1)");
  if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new SerializationError(`handle id ${big} is beyond 2**53 - 1`);
  const id = Number(big);
  const text2 = utf8.decode(data.subarray(8));
  const newline = text2.indexOf("\n");
  const type = newline < 0 ? text2 : text2.slice(0, newline);
  const repr = newline < 0 ? "" : text2.slice(newline + 1);
  if (context?.handle) return context.handle(id, type, repr);
  detached ??= HandleTable.detached();
  return detached.adopt(id, type, repr);
}
function readExt(type, data, buffers) {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (type === EXT_NDARRAY) return readArray(view, buffers);
  if (type === EXT_ARROW) return readTable(view, buffers);
  if (type === EXT_COMPLEX) {
    if (data.length !== 16) throw new SerializationError(`complex extension of ${data.length} bytes, expected 16`);
    return new Complex(view.getFloat64(0, true), view.getFloat64(8, true));
  }
  return readTimestamp(view);
}
function readArray(view, buffers) {
  if (view.byteLength < 8) throw new SerializationError("ndarray extension too short");
  const index = view.getUint32(0, true);
  const code = view.getUint8(4);
  const ndim = view.getUint8(5);
  if (view.byteLength !== 8 + 8 * ndim) throw new SerializationError(`ndarray extension does not match ndim ${ndim}`);
  const dtype = TIME_KINDS[code] === void 0 ? DTYPE_NAMES[code] : timeDtype(code, view.getUint8(6));
  if (dtype === void 0) throw new SerializationError(`unknown dtype code ${code}`);
  if (index >= buffers.length) throw new SerializationError(`ndarray refers to buffer ${index}, frame has ${buffers.length}`);
  const shape = [];
  let size = 1;
  for (let i = 0; i < ndim; i++) {
    shape.push(Number(view.getBigUint64(8 + 8 * i, true)));
    size *= shape[i];
  }
  const [Type, per] = DTYPES[dtype];
  let bytes = buffers[index];
  if (size * per * Type.BYTES_PER_ELEMENT !== bytes.byteLength) {
    throw new SerializationError(`ndarray of shape [${shape}] ${dtype} does not match its buffer of ${bytes.byteLength} bytes`);
  }
  if (bytes.byteOffset % Type.BYTES_PER_ELEMENT !== 0) bytes = bytes.slice();
  const data = new Type(bytes.buffer, bytes.byteOffset, size * per);
  if (ndim === 1 && STANDALONE.has(dtype)) return data;
  return new NDArray(data, shape, dtype);
}
function timeDtype(code, unit) {
  if (unit < 1 || unit > TIME_UNITS.length) {
    throw new SerializationError(`dtype code ${code} with time unit ${unit}, not one of 1..${TIME_UNITS.length}`);
  }
  return `${TIME_KINDS[code]}[${TIME_UNITS[unit - 1]}]`;
}
function readTimestamp(view) {
  let sec;
  let nsec = 0;
  if (view.byteLength === 4) sec = view.getUint32(0);
  else if (view.byteLength === 8) {
    const hi = view.getUint32(0);
    nsec = hi >>> 2;
    sec = (hi & 3) * 2 ** 32 + view.getUint32(4);
  } else if (view.byteLength === 12) {
    nsec = view.getUint32(0);
    sec = Number(view.getBigInt64(4));
  } else throw new SerializationError(`timestamp extension of ${view.byteLength} bytes`);
  return new Date(sec * 1e3 + Math.floor(nsec / 1e6));
}

// ../../work/main/js/src/find-python.js
import { existsSync } from "node:fs";
import path from "node:path";
var venvPython = process.platform === "win32" ? ["Scripts", "python.exe"] : ["bin", "python"];
function findPython({ python, cwd = process.cwd(), env = process.env } = {}) {
  if (python) return { command: python, source: "the `python` option" };
  if (env.PYFERRY_PYTHON) return { command: env.PYFERRY_PYTHON, source: "$PYFERRY_PYTHON" };
  const venv = path.resolve(cwd, ".venv", ...venvPython);
  if (existsSync(venv)) return { command: venv, source: "./.venv" };
  return { command: process.platform === "win32" ? "python" : "python3", source: "PATH" };
}
function howToFix({ command, source }) {
  return [
    `Interpreter: ${command} (from ${source})`,
    "To fix it, either:",
    `  1. install the Python half into that interpreter: ${command} -m pip install pyferry`,
    '  2. or point pyferry at one that has it: new Python({ python: "/path/to/python" })',
    "     or set PYFERRY_PYTHON=/path/to/python"
  ].join("\n");
}

// ../../work/main/js/src/pool.js
var BACKOFF_FIRST_MS = 100;
var BACKOFF_MAX_MS = 1e4;
var Pool = class {
  #size;
  #spawn;
  #emit;
  #maxQueue;
  #maxCallsPerWorker;
  #killGrace;
  #pipeline;
  #workers = [];
  // every process not yet exited, oldest first
  #queue = [];
  // calls any worker may run
  #pinned = /* @__PURE__ */ new Map();
  // worker -> calls only it may run (they name its handles), oldest first
  #retiring = /* @__PURE__ */ new WeakSet();
  // served maxCallsPerWorker calls: closed once its calls are answered
  #wanted = 0;
  // how many workers the pool keeps alive: grows with demand, up to #size
  #restarts = 0;
  #recycled = 0;
  #startFailures = 0;
  #backoffUntil = 0;
  #backoffTimer = null;
  #lastStartFailure = null;
  #full = false;
  #closed = false;
  constructor({ size, spawn: spawn2, emit, maxQueue, maxCallsPerWorker, killGrace, pipeline }) {
    this.#size = size;
    this.#spawn = spawn2;
    this.#emit = emit;
    this.#maxQueue = maxQueue;
    this.#maxCallsPerWorker = maxCallsPerWorker;
    this.#killGrace = killGrace;
    this.#pipeline = pipeline;
  }
  // Queue a job ({ id, target, chunks, timeout, signal, handles, callbacks, owner, via, ... });
  // resolves or rejects with its outcome. `owner`: the worker whose handles it names;
  // `via`: the callback context it was made in ({ worker, active }).
  submit(job) {
    job.promise = new Promise((resolve, reject) => {
      job.resolve = resolve;
      job.reject = reject;
    });
    const direct = this.#directWorker(job);
    if (this.#closed && direct === void 0) return this.#refuse(job, new PoolClosedError("this Python client is closed"));
    if (job.signal?.aborted) return this.#refuse(job, abortError(job));
    if (job.owner && !(job.owner.usable && this.#workers.includes(job.owner))) {
      return this.#refuse(job, new HandleInvalidatedError(
        `the call to ${job.target} names a handle of worker ${job.owner.pid}, which has exited`
      ));
    }
    if (direct === void 0 && job.owner === void 0) {
      const failure = this.#startFailureNow();
      if (failure) return this.#refuse(job, failure());
    }
    if (direct !== void 0) {
      job.direct = true;
      this.#send(direct, job);
    } else {
      job.state = "queued";
      job.queue = job.owner === void 0 ? this.#queue : this.#pinnedOf(job.owner);
      job.queue.push(job);
      this.#grow();
      this.#dispatch();
      const waiting2 = this.#waiting();
      if (job.state === "queued" && waiting2 > this.#maxQueue) {
        job.queue.pop();
        this.#full = true;
        return this.#refuse(job, new QueueFullError(
          `${waiting2 - 1} calls are already waiting (maxQueue is ${this.#maxQueue})`
        ));
      }
      if (waiting2 > 0 && waiting2 >= this.#maxQueue) this.#full = true;
    }
    if (job.timeout !== void 0) {
      job.timer = setTimeout(() => this.#abort(job, new TimeoutError(
        `the call to ${job.target} did not finish within its timeout of ${job.timeout} ms`
      )), job.timeout);
    }
    if (job.signal) {
      job.onAbort = () => this.#abort(job, abortError(job));
      job.signal.addEventListener("abort", job.onAbort, { once: true });
    }
    return job.promise;
  }
  // Take back a call not sent yet (a stream closed before it started); true if it was queued.
  withdraw(job) {
    if (job.state !== "queued") return false;
    job.queue.splice(job.queue.indexOf(job), 1);
    this.#settle(job, null, void 0);
    this.#dispatch();
    return true;
  }
  // Spawn workers until `count` (default: the pool size) are alive; resolves when they are ready.
  async start(count = this.#size) {
    if (this.#closed) throw new PoolClosedError("this Python client is closed");
    const failure = this.#startFailureNow();
    if (failure) throw failure();
    this.#wanted = Math.max(this.#wanted, Math.min(count, this.#size));
    this.#grow();
    const starting = this.#workers.filter((w) => w.state === "starting" || w.state === "ready");
    await Promise.all(starting.map((worker) => worker.info ?? new Promise((resolve, reject) => {
      worker.once("ready", resolve);
      worker.exited.then(({ started, failure: failure2 }) => {
        if (!started) reject(failure2());
      });
    })));
    if (this.#closed) throw new PoolClosedError("this Python client was closed while it started");
    return this.info;
  }
  // HELLO info of the oldest ready worker: the one a lone caller's calls go to.
  get info() {
    return this.#workers.find((w) => w.info !== null && w.usable)?.info ?? null;
  }
  stats() {
    const workers = this.#workers.map((w) => ({
      pid: w.pid,
      state: w.state,
      busy: w.busy,
      ahead: w.ahead,
      calls: w.calls,
      inFlight: w.pending,
      queued: this.#pinned.get(w)?.length ?? 0,
      handles: w.handles.size,
      frames: w.frames
    }));
    return {
      size: this.#size,
      live: this.#workers.filter((w) => w.usable).length,
      busy: workers.filter((w) => w.busy).length,
      queued: this.#waiting(),
      inFlight: this.#workers.reduce((n, w) => n + w.pending, 0),
      handles: workers.reduce((n, w) => n + w.handles, 0),
      restarts: this.#restarts,
      recycled: this.#recycled,
      workers
    };
  }
  // Reject queued calls, let running ones finish (or, after `timeout` ms, cancel them as a
  // timeout would), end every worker and resolve once all have exited.
  async close({ timeout } = {}) {
    this.#closed = true;
    clearTimeout(this.#backoffTimer);
    for (const job of this.#takeQueued()) {
      this.#settle(job, new PoolClosedError("the Python client was closed before the call started"));
    }
    const timer = timeout === void 0 ? null : setTimeout(() => {
      for (const worker of this.#workers) {
        for (const job of worker.jobs()) {
          this.#abort(job, new PoolClosedError(`the Python client was closed; the call ran past ${timeout} ms`));
        }
      }
    }, timeout);
    for (const worker of this.#workers) {
      for (const job of worker.jobs()) {
        if (job.stream) this.#abort(job, new PoolClosedError("the Python client was closed while the stream was open"));
      }
      if (worker.pending === 0) worker.close();
    }
    try {
      while (this.#workers.length) await this.#workers[0].exited;
    } finally {
      clearTimeout(timer);
    }
  }
  // Kill every worker now; every call not yet settled rejects with PoolClosedError.
  async destroy() {
    this.#closed = true;
    clearTimeout(this.#backoffTimer);
    const error = () => new PoolClosedError("the Python client was destroyed");
    for (const job of this.#takeQueued()) this.#settle(job, error());
    for (const worker of this.#workers) {
      for (const job of worker.jobs()) this.#settle(job, error());
      worker.kill();
    }
    while (this.#workers.length) await this.#workers[0].exited;
  }
  #refuse(job, error) {
    job.state = "settled";
    this.#dropHandles(job);
    job.reject(error);
    return job.promise;
  }
  // Every queued call, shared and pinned, taken out of the queues.
  #takeQueued() {
    const jobs = this.#queue.splice(0);
    for (const queue of this.#pinned.values()) jobs.push(...queue.splice(0));
    return jobs;
  }
  #waiting() {
    let n = this.#queue.length;
    for (const queue of this.#pinned.values()) n += queue.length;
    return n;
  }
  #pinnedOf(worker) {
    let queue = this.#pinned.get(worker);
    if (queue === void 0) this.#pinned.set(worker, queue = []);
    return queue;
  }
  // The worker a call made inside a JS callback goes to at once: the one that called back,
  // unless the call names handles of another worker (those decide).
  #directWorker(job) {
    const worker = job.via?.active ? job.via.worker : void 0;
    if (worker === void 0 || !worker.usable || !this.#workers.includes(worker)) return void 0;
    if (job.owner !== void 0 && job.owner !== worker) return void 0;
    return worker;
  }
  // Free: usable, and every call sent to it answered or DETACHED.
  #free(worker) {
    return worker.usable && !worker.busy && !this.#retiring.has(worker);
  }
  // The error factory of the last start failure, while its backoff runs and no worker is alive.
  #startFailureNow() {
    if (Date.now() >= this.#backoffUntil || this.#workers.some((w) => w.usable)) return null;
    return this.#lastStartFailure;
  }
  #grow() {
    if (this.#closed || Date.now() < this.#backoffUntil) return;
    let live = this.#workers.filter((w) => w.usable && !this.#retiring.has(w)).length;
    let free = this.#workers.filter((w) => this.#free(w)).length;
    while (this.#workers.length < this.#size && (live < this.#wanted || this.#queue.length > free)) {
      this.#startWorker();
      live++;
      free++;
      this.#wanted = Math.max(this.#wanted, live);
    }
  }
  #startWorker() {
    const worker = this.#spawn();
    this.#workers.push(worker);
    worker.on("ready", () => {
      this.#startFailures = 0;
      this.#backoffUntil = 0;
    });
    worker.on("reply", (job, error, value) => this.#onReply(worker, job, error, value));
    worker.on("free", () => this.#dispatch());
    worker.on("withdrawn", (job) => this.#onWithdrawn(worker, job));
    worker.on("unpinned", () => {
      if (this.#closed) return;
      this.#retire(worker);
      this.#dispatch();
    });
    worker.on("exit", (exit) => this.#onExit(worker, exit));
    for (const stream of ["stdout", "stderr"]) worker.on(stream, (line) => this.#emit(stream, line, { pid: worker.pid }));
    if (worker.pid !== void 0) this.#emit("spawn", { pid: worker.pid });
  }
  // Send queued jobs to free workers, oldest worker first; a worker's pinned calls first.
  #dispatch() {
    for (const worker of this.#workers) {
      while (this.#free(worker)) {
        const job = this.#pinned.get(worker)?.shift() ?? this.#queue.shift();
        if (job === void 0) break;
        this.#send(worker, job);
      }
    }
    if (this.#pipeline > 0) this.#sendAhead();
    if (this.#full && this.#waiting() === 0) {
      this.#full = false;
      this.#emit("drain");
    }
  }
  // No worker is free: queued calls go ahead to busy ones, a worker's own calls to it and
  // the rest to the worker with the fewest sent ahead, up to `pipeline` each.
  #sendAhead() {
    for (const [worker, queue] of this.#pinned) {
      while (queue.length && this.#roomAhead(worker)) this.#send(worker, queue.shift(), true);
    }
    while (this.#queue.length) {
      let best;
      for (const worker of this.#workers) {
        if (this.#roomAhead(worker) && (best === void 0 || worker.ahead < best.ahead)) best = worker;
      }
      if (best === void 0) break;
      this.#send(best, this.#queue.shift(), true);
    }
    this.#rebalance();
  }
  #roomAhead(worker) {
    return worker.usable && worker.busy && !this.#retiring.has(worker) && worker.ahead < this.#pipeline;
  }
  // A ready worker is free with nothing queued while others hold calls sent ahead: ask
  // for the newest of those back, one per free worker; WITHDRAWN requeues them.
  #rebalance() {
    if (this.#queue.length) return;
    let idle = this.#workers.filter((w) => w.state === "ready" && this.#free(w)).length;
    for (const worker of this.#workers) {
      if (idle === 0) return;
      if (worker.ahead === 0) continue;
      const jobs = worker.jobs();
      for (let i = jobs.length - 1; i >= 0 && idle > 0; i--) {
        const job = jobs[i];
        if (job.ahead && !job.detached && !job.withdrawing && job.owner === void 0 && job.state === "running") {
          job.withdrawing = true;
          worker.withdraw(job);
          idle--;
        }
      }
    }
  }
  #onWithdrawn(worker, job) {
    job.withdrawing = false;
    if (job.state === "cancelling") {
      this.#settle(job, job.abortError);
    } else if (job.state === "running") {
      if (this.#closed) {
        this.#settle(job, new PoolClosedError("the Python client was closed before the call started"));
      } else {
        job.state = "queued";
        job.worker = null;
        job.queue = this.#queue;
        this.#queue.unshift(job);
      }
    }
    if (this.#closed && worker.pending === 0) worker.close();
    this.#dispatch();
  }
  #send(worker, job, ahead = false) {
    job.state = "running";
    job.queue = null;
    job.worker = worker;
    worker.send(job, ahead);
    this.#dropHandles(job);
  }
  // The call no longer needs its handles kept (sent, or settled unsent).
  #dropHandles(job) {
    if (!job.handles) return;
    for (const state of job.handles) state.table.unhold(state);
    job.handles = null;
  }
  #onReply(worker, job, error, value) {
    if (job.state === "cancelling") this.#settle(job, job.abortError);
    else if (job.state === "running") this.#settle(job, error, value);
    if (this.#closed) {
      if (worker.pending === 0) worker.close();
    } else {
      this.#retire(worker);
    }
    this.#dispatch();
  }
  // Recycle a worker that has served maxCallsPerWorker calls: it takes no new call, and is
  // closed once its calls are answered. Not while the client holds handles there (they
  // would become invalid): then at the first answer after the last one is released.
  #retire(worker) {
    if (!this.#retiring.has(worker)) {
      const due = this.#maxCallsPerWorker && worker.calls >= this.#maxCallsPerWorker && worker.usable;
      if (!due || worker.handles.size > 0 || this.#pinned.get(worker)?.length) return;
      this.#retiring.add(worker);
      this.#recycled++;
    }
    if (worker.pending === 0) worker.close();
  }
  #onExit(worker, { pid, code, signal, started, closed, failure, jobs }) {
    this.#workers.splice(this.#workers.indexOf(worker), 1);
    const pinned = this.#pinned.get(worker) ?? [];
    this.#pinned.delete(worker);
    this.#emit("exit", { pid, code, signal });
    for (const job of pinned) {
      this.#settle(job, new HandleInvalidatedError(
        `the call to ${job.target} names a handle of worker ${pid}, which exited before the call could be sent`
      ));
    }
    if (!started && !closed) {
      this.#onStartFailure(failure, jobs);
    } else {
      let oldest = true;
      const again = [];
      for (const job of jobs) {
        const attached = !job.detached && !job.direct;
        if (job.state === "cancelling") {
          this.#settle(job, job.abortError);
        } else if (attached && !oldest && job.ahead && job.owner === void 0 && !this.#closed) {
          job.state = "queued";
          job.queue = this.#queue;
          again.push(job);
        } else {
          this.#settle(job, failure());
        }
        if (attached) oldest = false;
      }
      this.#queue.unshift(...again);
      if (!this.#closed && (!closed || jobs.length)) this.#restarts++;
    }
    if (!this.#closed) {
      this.#grow();
      this.#dispatch();
    }
  }
  // Nothing ran on a worker that never finished its handshake: its calls go back to the queue.
  #onStartFailure(failure, jobs) {
    this.#startFailures++;
    this.#lastStartFailure = failure;
    const delay = Math.min(BACKOFF_FIRST_MS * 2 ** (this.#startFailures - 1), BACKOFF_MAX_MS);
    this.#backoffUntil = Date.now() + delay;
    for (const job of jobs.reverse()) {
      if (job.state === "cancelling") this.#settle(job, job.abortError);
      else if (this.#closed) this.#settle(job, failure());
      else if (job.state === "running") {
        job.state = "queued";
        job.queue = this.#queue;
        this.#queue.unshift(job);
      }
    }
    if (!this.#workers.some((w) => w.usable)) {
      this.#wanted = 0;
      for (const job of this.#queue.splice(0)) this.#settle(job, failure());
      return;
    }
    clearTimeout(this.#backoffTimer);
    this.#backoffTimer = setTimeout(() => {
      this.#grow();
      this.#dispatch();
    }, delay).unref();
  }
  // A timeout, an abort or close({ timeout }): a queued call is dropped, a running one is
  // interrupted in Python and, if it has not ended after killGrace, its worker is killed.
  #abort(job, error) {
    if (job.state === "queued") {
      job.queue.splice(job.queue.indexOf(job), 1);
      this.#settle(job, error);
      this.#dispatch();
    } else if (job.state === "running") {
      job.state = "cancelling";
      job.abortError = error;
      job.worker.cancel(job);
      job.killTimer = setTimeout(() => {
        this.#settle(job, job.abortError);
        job.worker.kill();
      }, this.#killGrace);
    }
  }
  #settle(job, error, value) {
    if (job.state === "settled") return;
    job.state = "settled";
    job.queue = null;
    clearTimeout(job.timer);
    clearTimeout(job.killTimer);
    job.signal?.removeEventListener("abort", job.onAbort);
    this.#dropHandles(job);
    job.chunks = null;
    if (error) job.reject(error);
    else job.resolve(value);
  }
};
function abortError(job) {
  return new AbortError(`the call to ${job.target} was aborted`, { cause: job.signal.reason });
}

// ../../work/main/js/src/stream.js
var DEFAULT_WINDOW = 1024;
var DONE = Object.freeze({ value: void 0, done: true });
var PyStream = class {
  #begin;
  #window;
  #step;
  #call = null;
  // { job, outcome, withdraw } once started
  #items = [];
  // received, not yet taken
  #waiters = [];
  // next() calls waiting for an item: { resolve, reject }
  #taken = 0;
  // items taken since credit was last returned
  #ended = false;
  // the call is answered (STREAM_END, ERROR, or it failed)
  #aborted = false;
  // its signal aborted: items are dropped, next() waits for the AbortError
  #error = null;
  // its failure, until a next() has rejected with it
  #closing = null;
  // return()'s promise
  // begin(hooks) prepares and submits the CALL; returns { job, outcome, withdraw } where
  // `outcome` settles with the call's answer and withdraw() takes it back if not yet sent.
  constructor(begin, window = DEFAULT_WINDOW) {
    this.#begin = begin;
    this.#window = window;
    this.#step = Math.max(1, Math.floor(window / 2));
  }
  [Symbol.asyncIterator]() {
    return this;
  }
  next() {
    if (this.#call === null && this.#closing === null) this.#start();
    if (this.#items.length) return Promise.resolve(this.#take());
    if (this.#error !== null) {
      const error = this.#error;
      this.#error = null;
      return Promise.reject(error);
    }
    if (this.#ended || this.#closing !== null) return Promise.resolve(DONE);
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }
  // Stop: items not taken are dropped, the iterator is closed in Python. Resolves once it
  // has been (rejects if closing it raised).
  return() {
    this.#closing ??= this.#close();
    return this.#closing;
  }
  async #close() {
    this.#items = [];
    for (const waiter of this.#waiters.splice(0)) waiter.resolve(DONE);
    if (this.#call === null || this.#ended) return DONE;
    const { job, outcome, withdraw } = this.#call;
    if (!withdraw()) {
      if (job.detached) job.worker.closeStream(job);
      else job.closeOnDetach = true;
    }
    await outcome;
    return DONE;
  }
  #start() {
    const hooks = { push: (items) => this.#push(items) };
    try {
      this.#call = this.#begin(hooks);
    } catch (error) {
      this.#call = { job: null, outcome: null, withdraw: () => false };
      this.#ended = true;
      this.#error = error;
      return;
    }
    const { job, outcome } = this.#call;
    const onAbort = () => {
      this.#aborted = true;
      this.#items = [];
    };
    job.signal?.addEventListener("abort", onAbort, { once: true });
    outcome.then(() => this.#end(null), (error) => this.#end(error)).finally(() => job.signal?.removeEventListener("abort", onAbort));
  }
  #push(items) {
    if (this.#closing !== null || this.#aborted) return;
    for (const item of items) this.#items.push(item);
    while (this.#waiters.length && this.#items.length) this.#waiters.shift().resolve(this.#take());
  }
  #take() {
    const value = this.#items.shift();
    this.#taken++;
    const { job } = this.#call;
    if (this.#taken >= this.#step && !this.#ended && this.#closing === null && job.worker) {
      job.worker.credit(job, this.#taken);
      this.#taken = 0;
    }
    return { value, done: false };
  }
  #end(error) {
    this.#ended = true;
    if (this.#closing !== null) return;
    if (error !== null) this.#error = error;
    if (this.#items.length) return;
    for (const waiter of this.#waiters.splice(0)) {
      if (this.#error !== null) {
        waiter.reject(this.#error);
        this.#error = null;
      } else {
        waiter.resolve(DONE);
      }
    }
  }
};

// ../../work/main/js/src/worker.js
import { AsyncLocalStorage } from "node:async_hooks";
import { spawn } from "node:child_process";
import { EventEmitter, once } from "node:events";
import { createRequire } from "node:module";

// ../../work/main/js/src/lines.js
var MAX_LINE = 64 * 1024;
function forEachLine(stream, onLine) {
  let rest = "";
  const emit = (line) => {
    do {
      onLine(line.slice(0, MAX_LINE));
      line = line.slice(MAX_LINE);
    } while (line.length > 0);
  };
  stream.setEncoding("utf8");
  stream.on("data", (text2) => {
    const lines = (rest + text2).split("\n");
    rest = lines.pop();
    for (const line of lines) emit(line.endsWith("\r") ? line.slice(0, -1) : line);
    while (rest.length > MAX_LINE) {
      onLine(rest.slice(0, MAX_LINE));
      rest = rest.slice(MAX_LINE);
    }
  });
  stream.on("end", () => {
    if (rest) emit(rest);
    rest = "";
  });
}

// ../../work/main/js/src/worker.js
var callbackContext = new AsyncLocalStorage();
var runningCallbacks = 0;
function currentCallback() {
  if (runningCallbacks > 0) return callbackContext.getStore();
  callbackContext.disable();
  return void 0;
}
var STDERR_TAIL_LINES = 40;
var STDERR_TAIL_LINE_CHARS = 2e3;
var CLIENT = `pyferry-js/${createRequire(import.meta.url)("../package.json").version}`;
var DRAIN_AFTER_EXIT_MS = 200;
var KILL_AFTER_EOF_MS = 5e3;
var Worker = class extends EventEmitter {
  #child;
  #socket;
  #pending = /* @__PURE__ */ new Map();
  // call id -> job
  #held = null;
  // frames waiting behind a message whose Arrow tables are still loading
  #attached = 0;
  // pending calls not DETACHED: they hold the main thread
  #ahead = 0;
  // pending calls sent ahead (protocol section 3.7), neither answered nor DETACHED
  #callbacks = /* @__PURE__ */ new Map();
  // callback id -> function, for the calls in flight
  #stderrTail = [];
  #hello = null;
  #state = "starting";
  // starting -> ready -> closing -> exited
  #failure = null;
  // makes the error for the calls this worker still holds, once it failed
  #killed = false;
  #interpreter;
  #exited;
  #killTimer = null;
  #decodeContext;
  #maxMessageBytes;
  calls = 0;
  // answers received (RESULT, ERROR, STREAM_END): what maxCallsPerWorker counts
  frames = 0;
  // frames received
  // Spawn `<python> -m pyferry worker` and send our HELLO at once; calls may follow immediately.
  // `client` is what its handles call through ({ invoke(target, args, options) }).
  constructor({ interpreter, args, cwd, env, maxMessageBytes, client }) {
    super();
    this.#interpreter = interpreter;
    this.#maxMessageBytes = maxMessageBytes;
    this.#child = spawn(interpreter.command, ["-m", "pyferry", "worker", ...args], {
      cwd,
      env,
      stdio: ["ignore", "pipe", "pipe", "pipe"],
      windowsHide: true
    });
    this.#socket = this.#child.stdio[3];
    this.#exited = new Promise((resolve) => this.once("exit", resolve));
    this.handles = new HandleTable({
      pid: this.#child.pid,
      client,
      owner: this,
      send: (ids) => this.#release(ids),
      onEmpty: () => this.emit("unpinned")
    });
    this.#decodeContext = { handle: (id, type, repr) => this.handles.adopt(id, type, repr) };
    const reader = new FrameReader((header, buffers) => this.#onFrame(header, buffers), { maxMessageBytes });
    this.#socket.on("data", (chunk) => {
      if (this.#failure || this.#killed) return;
      try {
        reader.push(chunk);
      } catch (error) {
        this.#broken(error);
      }
    });
    this.#socket.on("error", () => {
    });
    forEachLine(this.#child.stdout, (line) => this.emit("stdout", line));
    forEachLine(this.#child.stderr, (line) => {
      this.#stderrTail.push(line.length > STDERR_TAIL_LINE_CHARS ? `${line.slice(0, STDERR_TAIL_LINE_CHARS)}\u2026` : line);
      if (this.#stderrTail.length > STDERR_TAIL_LINES) this.#stderrTail.shift();
      this.emit("stderr", line);
    });
    this.#child.on("error", (error) => this.#onSpawnError(error));
    this.#child.on("exit", (code, signal) => this.#onExit(code, signal));
    this.#write(encodeMessage([HELLO, 0, { protocol: PROTOCOL_VERSION, client: CLIENT }]));
    this.#setRef(true);
  }
  get pid() {
    return this.#child.pid;
  }
  // The worker's HELLO info, null until the handshake is done.
  get info() {
    return this.#hello;
  }
  get state() {
    return this.#state;
  }
  // Whether new calls may be sent: not failed, closing or gone.
  get usable() {
    return this.#failure === null && !this.#killed && (this.#state === "starting" || this.#state === "ready");
  }
  // Calls sent and not answered (DETACHED ones included).
  get pending() {
    return this.#pending.size;
  }
  // Whether a call holds its main thread: sent, neither answered nor DETACHED.
  get busy() {
    return this.#attached > 0;
  }
  // Calls sent ahead while it was busy, neither answered nor DETACHED.
  get ahead() {
    return this.#ahead;
  }
  // The jobs sent and not yet answered, oldest first.
  jobs() {
    return [...this.#pending.values()];
  }
  // Resolves with { pid, code, signal, started, closed, failure, jobs } once the process is gone:
  // `started` if the handshake was done, `closed` if close() was called, `failure()` makes the
  // error for `jobs`, the calls it still held.
  get exited() {
    return this.#exited;
  }
  // Send job.chunks (an encoded CALL with id job.id); the reply comes as a 'reply' event.
  // `ahead`: sent while the worker is busy; it may come back as a 'withdrawn' event.
  send(job, ahead = false) {
    this.#pending.set(job.id, job);
    job.detached = false;
    job.ahead = ahead;
    this.#attached++;
    if (ahead) this.#ahead++;
    if (job.callbacks) for (const [id, fn] of job.callbacks) this.#callbacks.set(id, fn);
    if (this.#pending.size === 1) this.#setRef(true);
    this.#write(ahead ? markAhead(job.chunks) : job.chunks);
  }
  // Ask for a call sent ahead back: a 'withdrawn' event if it had not started, else its reply.
  withdraw(job) {
    this.#control(job, [WITHDRAW, job.id]);
  }
  // Ask Python to interrupt the call; its reply (result, error or Cancelled) still follows.
  cancel(job) {
    this.#control(job, [CANCEL, job.id]);
  }
  // Let a stream send `n` more items.
  credit(job, n) {
    this.#control(job, [STREAM_CREDIT, job.id, n]);
  }
  // Ask a stream to stop; its STREAM_END (or ERROR) follows.
  closeStream(job) {
    this.#control(job, [STREAM_CLOSE, job.id]);
  }
  #control(job, message) {
    if (this.#pending.has(job.id) && this.#writable()) this.#write(encodeMessage(message));
  }
  #writable() {
    return this.#state !== "exited" && this.#socket.writable;
  }
  #release(ids) {
    if (this.#writable()) this.#write(encodeMessage([RELEASE, 0, ids]));
  }
  // End the request channel (EOF): the worker exits once its running call, if any, is abandoned
  // or done; it is killed if it has not exited within 5 s.
  close() {
    if (this.#state === "exited" || this.#state === "closing") return this.#exited;
    this.#state = "closing";
    this.#socket.end();
    this.#setRef(true);
    this.#killTimer = setTimeout(() => this.#child.kill("SIGKILL"), KILL_AFTER_EOF_MS);
    return this.#exited;
  }
  // Kill the process now (SIGKILL); the exit reports the calls it holds as crashed.
  kill() {
    this.#killed = true;
    if (this.#state !== "exited") {
      this.#setRef(true);
      this.#child.kill("SIGKILL");
    }
    return this.#exited;
  }
  #write(chunks) {
    if (chunks.length === 1) {
      this.#socket.write(chunks[0]);
      return;
    }
    this.#socket.cork();
    for (const chunk of chunks) this.#socket.write(chunk);
    this.#socket.uncork();
  }
  #setRef(on) {
    for (const handle of [this.#child, this.#socket, this.#child.stdout, this.#child.stderr]) {
      if (on) handle.ref?.();
      else handle.unref?.();
    }
  }
  // The stream broke the protocol: fail what this worker holds and kill it.
  #broken(error) {
    const Class = error instanceof ProtocolError ? error.constructor : ProtocolError;
    this.#fail(() => new Class(error.message, { cause: error.cause ?? error }));
    this.#child.kill("SIGKILL");
  }
  #onFrame(header, buffers) {
    this.frames++;
    if (this.#held !== null) this.#held.push([header, buffers]);
    else this.#takeFrame(header, buffers);
  }
  // The first Arrow table this process meets waits for apache-arrow to load. Its message,
  // and every frame after it, wait too, so that stream items and replies keep their order.
  #hold(ready, header) {
    this.#held = [];
    const go = (take) => {
      try {
        take();
        const held = this.#held;
        this.#held = null;
        while (held.length && this.#held === null) this.#takeFrame(...held.shift());
        if (this.#held !== null) this.#held.unshift(...held);
      } catch (error) {
        this.#broken(error);
      }
    };
    ready.then((message) => go(() => this.#onMessage(message)), (error) => go(() => this.#undecodable(header, error, error)));
  }
  #takeFrame(header, buffers) {
    if (this.#failure || this.#killed) return;
    let message;
    try {
      message = decodeMessage(header, buffers, this.#decodeContext);
    } catch (error) {
      return this.#undecodable(header, error);
    }
    const ready = messageReady(message);
    if (ready !== message) return this.#hold(ready, header);
    this.#onMessage(message);
  }
  // A message that could not be decoded; `failure`: the error for its call, if it names one.
  #undecodable(header, error, failure = new SerializationError(`the reply cannot be decoded: ${error.message}`, "result", { cause: error })) {
    if (error instanceof ProtocolError) throw error;
    const [kind, id] = peekEnvelope(header) ?? [];
    if (kind === CALLBACK && Number.isSafeInteger(id) && id > 0) {
      this.#answerError(id, errorInfo(error, codeOf(error)));
      return;
    }
    const job = kind === RESULT || kind === ERROR || kind === STREAM_ITEMS ? this.#pending.get(id) : void 0;
    if (job === void 0) throw error;
    if (kind === STREAM_ITEMS) this.#failStream(job, failure);
    else this.#answer(job, failure);
  }
  #onMessage(message) {
    if (!Array.isArray(message) || message.length < 3) {
      throw new ProtocolError("a message must be an array [kind, id, ...]");
    }
    const [kind, id, body] = message;
    switch (kind) {
      case HELLO:
        return this.#onHello(body);
      case RESULT:
        return this.#answer(this.#job(id, "RESULT", false), null, body);
      case ERROR:
        if (id === 0) return this.#fail(() => fromErrorInfo(body));
        return this.#answer(this.#job(id, "ERROR"), fromErrorInfo(body));
      case STREAM_END:
        return this.#answer(this.#job(id, "STREAM_END", true), null, void 0);
      case STREAM_ITEMS:
        return this.#onItems(this.#job(id, "STREAM_ITEMS", true), body);
      case PROGRESS:
        return this.#onProgress(this.#job(id, "PROGRESS"), body);
      case DETACHED:
        return this.#onDetached(this.#job(id, "DETACHED"));
      case WITHDRAWN:
        return this.#onWithdrawn(this.#job(id, "WITHDRAWN"));
      case CALLBACK:
        return this.#onCallback(id, body, message[3]);
      default:
        throw new ProtocolError(`unexpected message kind ${kind}`);
    }
  }
  // The job a message names; `stream`: whether the kind belongs to streams only (true),
  // to plain calls only (false) or to both (undefined).
  #job(id, kind, stream) {
    const job = this.#pending.get(id);
    if (job === void 0) throw new ProtocolError(`${kind} for unknown call id ${id}`);
    if (stream !== void 0 && Boolean(job.stream) !== stream) {
      throw new ProtocolError(`${kind} for call id ${id}, which is ${job.stream ? "a stream" : "not a stream"}`);
    }
    return job;
  }
  // The call is answered: RESULT, ERROR, STREAM_END, or a reply that could not be decoded.
  #answer(job, error, value) {
    this.#forget(job);
    this.calls++;
    if (this.#pending.size === 0 && this.#state !== "closing") this.#setRef(false);
    this.emit("reply", job, job.failure ?? error, value);
  }
  // The call never started; the pool may send it elsewhere.
  #onWithdrawn(job) {
    this.#forget(job);
    if (this.#pending.size === 0 && this.#state !== "closing") this.#setRef(false);
    this.emit("withdrawn", job);
  }
  // Forget a call that is answered or withdrawn.
  #forget(job) {
    this.#pending.delete(job.id);
    if (!job.detached) {
      this.#attached--;
      if (job.ahead) this.#ahead--;
    }
    if (job.callbacks) for (const id of job.callbacks.keys()) this.#callbacks.delete(id);
  }
  #onItems(job, items) {
    if (!Array.isArray(items)) throw new ProtocolError(`STREAM_ITEMS for call id ${job.id} without an array of items`);
    if (job.failure === void 0 && job.state !== "settled") job.stream.push(items);
  }
  // Items that cannot be decoded end the stream with that error, once the worker has closed it.
  #failStream(job, error) {
    if (job.failure !== void 0) return;
    job.failure = error;
    this.closeStream(job);
  }
  #onProgress(job, body) {
    if (!Array.isArray(body) || body.length !== 3) {
      throw new ProtocolError(`PROGRESS for call id ${job.id} is not [done, total, message]`);
    }
    if (job.onProgress === void 0 || job.state === "settled") return;
    const [done, total, message] = body;
    try {
      job.onProgress({ done, total, message });
    } catch (error) {
      process.nextTick(() => {
        throw error;
      });
    }
  }
  #onDetached(job) {
    if (job.detached) return;
    job.detached = true;
    this.#attached--;
    if (job.ahead) this.#ahead--;
    if (job.closeOnDetach) this.closeStream(job);
    this.emit("free");
  }
  // Run the JS function `callbackId` with `args` and answer CALLBACK_RESULT or CALLBACK_ERROR.
  #onCallback(cid, callbackId, args) {
    if (!Number.isSafeInteger(cid) || cid <= 0 || !Array.isArray(args)) {
      throw new ProtocolError("a CALLBACK must be [6, cid, callback id, args] with cid a positive integer");
    }
    const fn = this.#callbacks.get(callbackId);
    if (fn === void 0) {
      this.#answerError(cid, {
        type: "CallbackExpiredError",
        message: `JS callback ${callbackId} is gone: the call it was passed to has ended`,
        traceback: "",
        code: "PYFERRY_CALLBACK"
      });
      return;
    }
    const context = { worker: this, active: true };
    runningCallbacks++;
    const done = () => {
      context.active = false;
      runningCallbacks--;
    };
    let result;
    try {
      result = callbackContext.run(context, fn, ...args);
    } catch (error) {
      done();
      this.#answerError(cid, errorInfo(error, "PYFERRY_JS"));
      return;
    }
    Promise.resolve(result).then(
      (value) => {
        done();
        this.#answerValue(cid, value);
      },
      (error) => {
        done();
        this.#answerError(cid, errorInfo(error, "PYFERRY_JS"));
      }
    );
  }
  #answerValue(cid, value) {
    let chunks;
    try {
      chunks = encodeAnswer(CALLBACK_RESULT, cid, value, new Refs({ table: this.handles }));
    } catch (error) {
      this.#answerError(cid, errorInfo(error, codeOf(error)));
      return;
    }
    Promise.resolve(chunks).then((ready) => {
      const size = messageBytes(ready);
      if (size > this.#maxMessageBytes) {
        throw new SerializationError(`the callback's answer of ${size} bytes exceeds maxMessageBytes (${this.#maxMessageBytes})`, "result");
      }
      if (this.#writable()) this.#write(ready);
    }).catch((error) => this.#answerError(cid, errorInfo(error, codeOf(error))));
  }
  #answerError(cid, info) {
    if (this.#writable()) this.#write(encodeMessage([CALLBACK_ERROR, cid, info]));
  }
  #onHello(info) {
    if (this.#hello !== null || info === null || typeof info !== "object") {
      throw new ProtocolError("unexpected HELLO");
    }
    if (info.protocol !== PROTOCOL_VERSION) {
      throw new VersionMismatchError(
        `worker ${info.pid} (pyferry ${info.pyferry}) speaks protocol version ${info.protocol}, this client (${CLIENT}) speaks ${PROTOCOL_VERSION}`
      );
    }
    this.#hello = info;
    if (this.#state === "starting") this.#state = "ready";
    if (this.#pending.size === 0 && this.#state === "ready") this.#setRef(false);
    this.emit("ready", info);
  }
  // Mark the worker failed; the calls it holds reject with `makeError()` once it has exited.
  // `makeError` builds a fresh error per call, so that each caller's stack is its own.
  #fail(makeError) {
    this.#failure ??= makeError;
  }
  #onSpawnError(error) {
    this.#fail(() => new WorkerStartError(
      `could not start the Python worker: ${error.message}
${howToFix(this.#interpreter)}`,
      { cause: error }
    ));
    this.#finish(null, null);
  }
  async #onExit(code, signal) {
    if (this.#state === "exited") return;
    const streams = [this.#socket, this.#child.stderr].filter((s) => !s.readableEnded && !s.destroyed);
    if (streams.length) {
      await Promise.race([
        Promise.all(streams.map((s) => once(s, "end").catch(() => {
        }))),
        new Promise((resolve) => setTimeout(resolve, DRAIN_AFTER_EXIT_MS).unref())
      ]);
    }
    this.#finish(code, signal);
  }
  #finish(code, signal) {
    if (this.#state === "exited") return;
    const started = this.#hello !== null;
    const closed = this.#state === "closing";
    this.#state = "exited";
    clearTimeout(this.#killTimer);
    const stderr = [...this.#stderrTail];
    const pid = this.#child.pid;
    let failure = this.#failure;
    if (failure === null && !started) {
      const how = signal ?? `code ${code}`;
      failure = () => new WorkerStartError(
        `the Python worker exited during start-up (${how})` + (stderr.length ? `:
  ${stderr.join("\n  ")}` : "") + `
${howToFix(this.#interpreter)}`
      );
    }
    failure ??= () => new WorkerCrashedError({ pid, exitCode: code, signal, stderr });
    const jobs = [...this.#pending.values()];
    this.#pending.clear();
    this.#attached = 0;
    this.#ahead = 0;
    this.#callbacks.clear();
    this.handles.invalidate();
    this.#setRef(false);
    this.emit("exit", { pid, code, signal, started, closed, failure, jobs });
  }
};
function errorInfo(error, code) {
  if (error instanceof Error) {
    return { type: text(error.name, "Error"), message: text(error.message, ""), traceback: text(error.stack, ""), code };
  }
  let message;
  try {
    message = String(error);
  } catch {
    message = `<unprintable ${typeof error}>`;
  }
  return { type: "Error", message: message.toWellFormed(), traceback: "", code };
}
function codeOf(error) {
  return error instanceof PyferryError ? error.code : "PYFERRY_JS";
}
function text(value, fallback) {
  return typeof value === "string" ? value.toWellFormed() : fallback;
}

// ../../work/main/js/src/python.js
var MAX_TIMER_MS = 2 ** 31 - 1;
var PLAIN_CALL = Object.freeze({});
var CallOptions = class {
  constructor(options) {
    if (options === null || typeof options !== "object") {
      throw new TypeError("opts() takes an object such as { timeout: 1000, signal }");
    }
    const { timeout, signal, handle, onProgress, window } = options;
    checkTimeout(timeout, "opts().timeout");
    if (signal !== void 0 && !(signal instanceof AbortSignal)) {
      throw new TypeError("opts().signal must be an AbortSignal");
    }
    if (handle !== void 0 && typeof handle !== "boolean") throw new TypeError("opts().handle must be a boolean");
    if (onProgress !== void 0 && typeof onProgress !== "function") {
      throw new TypeError("opts().onProgress must be a function ({ done, total, message }) => void");
    }
    if (window !== void 0 && !(Number.isSafeInteger(window) && window >= 1 && window < 2 ** 32)) {
      throw new RangeError("opts().window must be an integer from 1 to 2 ** 32 - 1 (items in flight)");
    }
    this.timeout = timeout;
    this.signal = signal;
    this.handle = handle;
    this.onProgress = onProgress;
    this.window = window;
  }
};
function opts(options) {
  return new CallOptions(options);
}
function splitArgs(args) {
  let kwargs;
  let options;
  for (let i = 0; i < 2; i++) {
    const last = args.at(-1);
    if (last instanceof Kwargs && kwargs === void 0) kwargs = args.pop().values;
    else if (last instanceof CallOptions && options === void 0) options = args.pop();
  }
  return { args, kwargs, options };
}
function describeTarget(target) {
  if (typeof target === "string") return target;
  const [handle, ...names2] = target;
  const state = handleState(handle);
  return `${[state.type, ...names2].join(".")} (handle ${state.id})`;
}
function checkTimeout(value, name) {
  if (value !== void 0 && !(Number.isInteger(value) && value >= 0 && value <= MAX_TIMER_MS)) {
    throw new RangeError(`${name} must be a whole number of milliseconds from 0 to ${MAX_TIMER_MS}`);
  }
}
var DEFAULT_PIPELINE = 0;
function checkCount(value, name, fallback, min = 1, infinite = true) {
  const n = value ?? fallback;
  if (!(infinite && n === Infinity || Number.isSafeInteger(n) && n >= min)) {
    throw new RangeError(`${name} must be an integer of at least ${min}`);
  }
  return n;
}
function checkStrings(value, name, what) {
  const list = value === void 0 ? [] : Array.isArray(value) ? value : [value];
  if (!list.every((p) => typeof p === "string" && p !== "")) {
    throw new TypeError(`${name} must be ${what} or an array of them`);
  }
  return list;
}
function checkOptions(options) {
  if (options === null || typeof options !== "object") throw new TypeError("options must be an object");
  const { python, cwd, env } = options;
  if (python !== void 0 && (typeof python !== "string" || python === "")) {
    throw new TypeError("options.python must be a non-empty string (path to the interpreter)");
  }
  if (cwd !== void 0 && typeof cwd !== "string") throw new TypeError("options.cwd must be a string");
  if (env !== void 0 && (env === null || typeof env !== "object")) {
    throw new TypeError("options.env must be an object of environment variables");
  }
  checkTimeout(options.timeout, "options.timeout");
  checkTimeout(options.killGrace, "options.killGrace");
  const maxMemoryBytes = options.maxMemoryBytes;
  if (maxMemoryBytes !== void 0 && !(Number.isSafeInteger(maxMemoryBytes) && maxMemoryBytes >= 2 ** 26)) {
    throw new RangeError("options.maxMemoryBytes must be an integer of at least 64 MiB (2 ** 26)");
  }
  return {
    python,
    cwd,
    env,
    paths: checkStrings(options.path, "options.path", "a directory"),
    allow: checkStrings(options.allow, "options.allow", "a pattern such as 'numpy.*'"),
    preload: checkStrings(options.preload, "options.preload", "a module name"),
    maxMessageBytes: checkCount(options.maxMessageBytes, "options.maxMessageBytes", DEFAULT_MAX_MESSAGE_BYTES, 64, false),
    maxMemoryBytes,
    workers: checkCount(options.workers, "options.workers", availableParallelism(), 1, false),
    maxQueue: checkCount(options.maxQueue, "options.maxQueue", Infinity, 0),
    maxCallsPerWorker: checkCount(options.maxCallsPerWorker, "options.maxCallsPerWorker", Infinity),
    pipeline: checkCount(options.pipeline, "options.pipeline", DEFAULT_PIPELINE, 0, false),
    timeout: options.timeout,
    killGrace: options.killGrace ?? 1e3
  };
}
var Python = class extends EventEmitter2 {
  #options;
  #pool;
  #nextId = 1;
  #nextCallbackId = 1;
  #takeCallbackId = () => this.#nextCallbackId++;
  // for the Refs of each call
  #closing = null;
  // What PyHandles call through.
  #client = { invoke: (target, args, extra) => this.#invoke(target, args, extra) };
  // Check the options; nothing starts until the first call or start().
  constructor(options = {}) {
    super();
    const o = this.#options = checkOptions(options);
    this.#pool = new Pool({
      size: o.workers,
      spawn: () => this.#spawn(),
      emit: (event, ...args) => this.#emit(event, ...args),
      maxQueue: o.maxQueue,
      maxCallsPerWorker: o.maxCallsPerWorker === Infinity ? 0 : o.maxCallsPerWorker,
      killGrace: o.killGrace,
      pipeline: o.pipeline
    });
  }
  // Start every worker of the pool now instead of on demand; resolves with the first one's info.
  async start() {
    return this.#pool.start();
  }
  // Call the Python callable named `target` (e.g. 'numpy.fft.rfft') with `args`; a trailing
  // kw({...}) gives keyword arguments and opts({...}) options for this call.
  async call(target, ...args) {
    if (typeof target !== "string" || target === "") {
      throw new TypeError('call target must be a non-empty string such as "numpy.sum"');
    }
    return this.#invoke(target, args, PLAIN_CALL);
  }
  // The object named `name` (e.g. 'numpy.pi'): its value, or a PyHandle when it cannot cross.
  async get(name, ...rest) {
    if (typeof name !== "string" || name === "") {
      throw new TypeError('get() takes a non-empty dotted name such as "numpy.pi"');
    }
    return this.#invoke(name, rest, { op: "get" });
  }
  // A module proxy: `py.import('numpy').fft.rfft(x)` calls 'numpy.fft.rfft'. No round trip.
  import(name) {
    return moduleProxy(this, name);
  }
  // The items of the iterable that `target` (a dotted name, called with `args`, or a
  // PyHandle, iterated itself) gives, as an async iterable. Nothing is sent before the
  // first next(). `timeout` does not apply; `signal` does; `window` bounds items in flight.
  stream(target, ...args) {
    const isHandle = handleState(target) !== void 0;
    if (!isHandle && (typeof target !== "string" || target === "")) {
      throw new TypeError('stream target must be a non-empty dotted name such as "mymodule.rows", or a PyHandle');
    }
    const { options } = splitArgs([...args]);
    return new PyStream((hooks) => {
      const job = this.#prepare(isHandle ? [target] : target, args, { op: isHandle ? "get" : void 0, stream: hooks });
      return { job, outcome: this.#submit(job), withdraw: () => this.#pool.withdraw(job) };
    }, options?.window ?? DEFAULT_WINDOW);
  }
  // HELLO info (pid, versions) of the oldest ready worker, or null before any started.
  get info() {
    return this.#pool.info;
  }
  // Live, busy and queued counts, restarts, and each worker's pid, state and calls served.
  stats() {
    return this.#pool.stats();
  }
  // Reject queued calls, let running ones finish, stop the workers. With `timeout`, running
  // calls still going after that many ms are cancelled (then killed after killGrace).
  close({ timeout } = {}) {
    checkTimeout(timeout, "close() timeout");
    this.#closing ??= this.#pool.close({ timeout });
    return this.#closing;
  }
  // Kill every worker now; calls not yet settled reject with PoolClosedError.
  destroy() {
    this.#closing = this.#pool.destroy();
    return this.#closing;
  }
  async [Symbol.asyncDispose]() {
    await this.close();
  }
  // Encode and submit one call; rejects with the outcome. `target`: a dotted name or
  // [PyHandle, ...names]; `extra`: { op, result } wire options the method implies.
  async #invoke(target, args, extra) {
    const job = this.#prepare(target, args, extra);
    try {
      return await this.#submit(job);
    } catch (error) {
      if (error instanceof PyferryError) {
        Error.captureStackTrace(error);
        if (error.pythonTraceback) error.stack += `

Python traceback:
${error.pythonTraceback.trimEnd()}`;
      }
      throw error;
    }
  }
  // The job for a call (throws what is wrong with its arguments). It holds the handles it
  // names until it is sent, so that they are not released before (see handle.js).
  #prepare(target, rawArgs, { op, result, stream }) {
    const { args, kwargs, options } = splitArgs(rawArgs);
    if (op === "get" && (args.length || kwargs !== void 0)) {
      throw new TypeError(`reading ${describeTarget(target)} takes no arguments, only opts()`);
    }
    const wire = {};
    if (op !== void 0) wire.op = op;
    if (result !== void 0) wire.result = result;
    else if (options?.handle) wire.result = "handle";
    if (stream) wire.stream = options?.window ?? DEFAULT_WINDOW;
    if (options?.onProgress) wire.progress = true;
    const id = this.#nextId++;
    const refs = new Refs({ nextCallbackId: this.#takeCallbackId });
    const chunks = encodeCall(CALL, id, target, args, kwargs, Object.keys(wire).length ? wire : void 0, refs);
    if (refs.handles !== null) for (const state of refs.handles) state.table.hold(state);
    return {
      id,
      target: describeTarget(target),
      chunks,
      // A stream runs as long as its consumer wants: only its signal stops it.
      timeout: stream ? void 0 : options?.timeout ?? this.#options.timeout,
      signal: options?.signal,
      handles: refs.handles,
      // null when it names none
      callbacks: refs.callbacks,
      owner: refs.table?.owner ?? void 0,
      via: currentCallback(),
      onProgress: options?.onProgress,
      stream: stream || void 0
    };
  }
  async #submit(job) {
    try {
      if (job.chunks instanceof Promise) job.chunks = await job.chunks;
      const size = messageBytes(job.chunks);
      if (size > this.#options.maxMessageBytes) {
        throw new SerializationError(
          `the call's message of ${size} bytes exceeds maxMessageBytes (${this.#options.maxMessageBytes})`,
          "args"
        );
      }
    } catch (error) {
      for (const state of job.handles ?? []) state.table.unhold(state);
      job.handles = null;
      throw error;
    }
    return this.#pool.submit(job);
  }
  #emit(event, ...args) {
    if ((event === "stdout" || event === "stderr") && this.listenerCount(event) === 0) {
      process.stderr.write(`[python ${args[1].pid}] ${args[0]}
`);
    } else {
      this.emit(event, ...args);
    }
  }
  #spawn() {
    const { python, paths, cwd, env, maxMessageBytes, allow, preload, maxMemoryBytes } = this.#options;
    const fullEnv = { ...process.env, ...env };
    const interpreter = findPython({ python, cwd, env: fullEnv });
    const args = ["--max-message-bytes", String(maxMessageBytes)];
    for (const p of paths) args.push("--path", p);
    for (const pattern of allow) args.push("--allow", pattern);
    for (const name of preload) args.push("--preload", name);
    if (maxMemoryBytes) args.push("--max-memory-bytes", String(maxMemoryBytes));
    return new Worker({ interpreter, args, cwd, env: fullEnv, maxMessageBytes, client: this.#client });
  }
};
export {
  AbortError,
  CallOptions,
  Complex,
  HandleError,
  HandleInvalidatedError,
  HandleReleasedError,
  Kwargs,
  NDArray,
  NotAllowedError,
  PROTOCOL_VERSION,
  PoolClosedError,
  ProtocolError,
  PyHandle,
  PyferryError,
  Python,
  PythonError,
  QueueFullError,
  SerializationError,
  TargetError,
  TargetForbiddenError,
  TargetNotFoundError,
  TimeoutError,
  VersionMismatchError,
  WorkerCrashedError,
  WorkerStartError,
  kw,
  opts
};
