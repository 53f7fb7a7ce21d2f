// ESM entry: the same module instance as the CommonJS build, so `import` and `require` share one
// engine and one set of classes.
export * from '../index.js';
