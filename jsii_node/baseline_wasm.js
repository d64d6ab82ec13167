// Preloaded into the jsii kernel's Node processes (NODE_OPTIONS --require, set by jsii_node):
// WebAssembly runs on V8's baseline compiler, Liftoff, only. See jsii_node/__init__.py for why.
require("v8").setFlagsFromString("--liftoff-only");
