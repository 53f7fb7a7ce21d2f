// The designs the addon could use for a key, reduced to their Node-API cost: how a call reaches a
// key's state, and what making a key costs. Each "key" here is a small struct and each call does a
// trivial amount of work, so the figures are the crossing and the bookkeeping alone.
// bench/crossing/run.mjs builds this and times it; native/addon.cc explains the choice made.
//
//   bound     three functions per key, each bound to the key's state (napi callback data), with
//             a finalizer each, and an external ArrayBuffer: the addon's design before version 3
//   external  one External per key, type-tagged, with a finalizer; calls check the tag
//   handle    module functions taking an integer handle into a per-environment table that
//             carries a generation (the addon's design): numbers as arguments, or in a
//             Float64Array filled before a call that takes none
#include <node_api.h>

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <new>

namespace {

struct Key {
  uint64_t state[17];
  uint32_t generation;
  bool live;
};

// The handle table of one environment: keys by index, a free list, and the exchange block.
struct Table {
  static constexpr uint32_t kCapacity = 1 << 16;
  Key keys[kCapacity];
  uint32_t free_list[kCapacity];
  uint32_t free_count = 0;
  uint32_t used = 0;
  double args[4] = {};
};

const napi_type_tag kTag = {0x746f74702d68616eull, 0x6473686b2d6b6579ull};

uint32_t work(Key* key, double a) {
  key->state[0] += static_cast<uint64_t>(a);
  return static_cast<uint32_t>(key->state[0] & 0xffff);
}

Table* table_of(napi_callback_info info, napi_env env, std::size_t* argc, napi_value* argv) {
  void* data = nullptr;
  if (napi_get_cb_info(env, info, argc, argv, nullptr, &data) != napi_ok) return nullptr;
  return static_cast<Table*>(data);
}

Key* by_handle(Table* table, double number) {
  if (!(number >= 0 && number < 9007199254740992.0)) return nullptr;
  const uint64_t handle = static_cast<uint64_t>(number);
  const uint32_t index = static_cast<uint32_t>(handle & 0xffff);
  if (index >= table->used) return nullptr;
  Key* key = &table->keys[index];
  return key->live && key->generation == (handle >> 16) ? key : nullptr;
}

napi_value result(napi_env env, uint32_t value) {
  napi_value out = nullptr;
  napi_create_uint32(env, value, &out);
  return out;
}

// ---- handle ---------------------------------------------------------------------------------

napi_value HandleCreate(napi_env env, napi_callback_info info) {
  std::size_t argc = 0;
  Table* table = table_of(info, env, &argc, nullptr);
  if (table == nullptr) return nullptr;
  uint32_t index;
  if (table->free_count > 0) {
    index = table->free_list[--table->free_count];
  } else if (table->used < Table::kCapacity) {
    index = table->used++;
  } else {
    napi_throw_error(env, nullptr, "table full");
    return nullptr;
  }
  Key* key = &table->keys[index];
  key->live = true;
  napi_value out = nullptr;
  napi_create_double(env, static_cast<double>((static_cast<uint64_t>(key->generation) << 16) | index), &out);
  return out;
}

napi_value HandleDestroy(napi_env env, napi_callback_info info) {
  std::size_t argc = 1;
  napi_value argv[1];
  Table* table = table_of(info, env, &argc, argv);
  double number = -1;
  if (table == nullptr || napi_get_value_double(env, argv[0], &number) != napi_ok) return nullptr;
  Key* key = by_handle(table, number);
  if (key == nullptr) return nullptr;
  std::memset(key->state, 0, sizeof key->state);
  key->live = false;
  ++key->generation;
  table->free_list[table->free_count++] = static_cast<uint32_t>(key - table->keys);
  return nullptr;
}

// find(handle, a, b, c): four number arguments.
napi_value HandleFind(napi_env env, napi_callback_info info) {
  std::size_t argc = 4;
  napi_value argv[4];
  Table* table = table_of(info, env, &argc, argv);
  double v[4] = {};
  for (int i = 0; i < 4 && table != nullptr; ++i) napi_get_value_double(env, argv[i], &v[i]);
  Key* key = table == nullptr ? nullptr : by_handle(table, v[0]);
  return result(env, key == nullptr ? 0 : work(key, v[1] + v[2] + v[3]));
}

// findShared(): the same four numbers read from the table's exchange block.
napi_value HandleFindShared(napi_env env, napi_callback_info info) {
  std::size_t argc = 0;
  Table* table = table_of(info, env, &argc, nullptr);
  Key* key = table == nullptr ? nullptr : by_handle(table, table->args[0]);
  return result(env, key == nullptr ? 0 : work(key, table->args[1] + table->args[2] + table->args[3]));
}

// ---- bound ----------------------------------------------------------------------------------

struct BoundKey {
  Key key = {};
  int32_t candidates[21] = {};
  int holders = 0;
};

void release_bound(BoundKey* bound) {
  if (--bound->holders == 0) delete bound;
}

napi_value BoundFind(napi_env env, napi_callback_info info) {
  std::size_t argc = 3;
  napi_value argv[3];
  void* data = nullptr;
  napi_get_cb_info(env, info, &argc, argv, nullptr, &data);
  double v[3] = {};
  for (int i = 0; i < 3; ++i) napi_get_value_double(env, argv[i], &v[i]);
  return result(env, work(&static_cast<BoundKey*>(data)->key, v[0] + v[1] + v[2]));
}

napi_value BoundCreate(napi_env env, napi_callback_info) {
  auto* bound = new (std::nothrow) BoundKey();
  napi_value object = nullptr, buffer = nullptr;
  if (bound == nullptr || napi_create_object(env, &object) != napi_ok) return nullptr;
  const auto finalize = [](napi_env, void* data, void*) { release_bound(static_cast<BoundKey*>(data)); };
  if (napi_create_external_arraybuffer(env, bound->candidates, sizeof bound->candidates, [](napi_env, void*, void* hint) {
        release_bound(static_cast<BoundKey*>(hint));
      }, bound, &buffer) != napi_ok) {
    delete bound;
    return nullptr;
  }
  ++bound->holders;
  napi_set_named_property(env, object, "candidates", buffer);
  for (const char* name : {"findCode", "codeAt", "destroy"}) {
    napi_value fn = nullptr;
    if (napi_create_function(env, name, NAPI_AUTO_LENGTH, BoundFind, bound, &fn) != napi_ok ||
        napi_add_finalizer(env, fn, bound, finalize, nullptr, nullptr) != napi_ok) {
      return nullptr;
    }
    ++bound->holders;
    napi_set_named_property(env, object, name, fn);
  }
  return object;
}

// ---- external -------------------------------------------------------------------------------

napi_value ExternalCreate(napi_env env, napi_callback_info) {
  auto* key = new (std::nothrow) Key();
  napi_value external = nullptr;
  if (key == nullptr || napi_create_external(env, key, [](napi_env, void* data, void*) { delete static_cast<Key*>(data); },
                                             nullptr, &external) != napi_ok) {
    delete key;
    return nullptr;
  }
  napi_type_tag_object(env, external, &kTag);
  return external;
}

// find(external, a, b, c)
napi_value ExternalFind(napi_env env, napi_callback_info info) {
  std::size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  bool tagged = false;
  void* data = nullptr;
  if (napi_check_object_type_tag(env, argv[0], &kTag, &tagged) != napi_ok || !tagged ||
      napi_get_value_external(env, argv[0], &data) != napi_ok) {
    return result(env, 0);
  }
  double v[3] = {};
  for (int i = 0; i < 3; ++i) napi_get_value_double(env, argv[i + 1], &v[i]);
  return result(env, work(static_cast<Key*>(data), v[0] + v[1] + v[2]));
}

}  // namespace

NAPI_MODULE_INIT() {
  auto* table = new (std::nothrow) Table();
  if (table == nullptr ||
      napi_set_instance_data(env, table, [](napi_env, void* data, void*) { delete static_cast<Table*>(data); }, nullptr) != napi_ok) {
    delete table;
    return nullptr;
  }
  const struct {
    const char* name;
    napi_callback callback;
  } functions[] = {{"handleCreate", HandleCreate}, {"handleDestroy", HandleDestroy}, {"handleFind", HandleFind},
                   {"handleFindShared", HandleFindShared}, {"boundCreate", BoundCreate}, {"externalCreate", ExternalCreate},
                   {"externalFind", ExternalFind}};
  for (const auto& f : functions) {
    napi_value fn = nullptr;
    if (napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.callback, table, &fn) != napi_ok ||
        napi_set_named_property(env, exports, f.name, fn) != napi_ok) {
      return nullptr;
    }
  }
  napi_value buffer = nullptr, args = nullptr;
  if (napi_create_external_arraybuffer(env, table->args, sizeof table->args, nullptr, nullptr, &buffer) != napi_ok ||
      napi_create_typedarray(env, napi_float64_array, 4, buffer, 0, &args) != napi_ok ||
      napi_set_named_property(env, exports, "args", args) != napi_ok) {
    return nullptr;
  }
  return exports;
}
