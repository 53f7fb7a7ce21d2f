#include "key_arena.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "secure_wipe.h"

#if defined(_WIN32)
#include <windows.h>
#else
#include <sys/mman.h>
#endif

namespace totp {

struct KeyArena::Slot {
  StoredKey key;
  uint32_t generation;  // of the key in it, or of the next one while it is free
  uint32_t next_free;   // while free: the chunk's next free slot
  bool live;
};

namespace {

constexpr uint64_t kHandleBits = KeyArena::kIndexBits + KeyArena::kGenerationBits;
constexpr uint64_t kHandleRange = uint64_t{1} << kHandleBits;
constexpr uint32_t kIndexMask = (uint32_t{1} << KeyArena::kIndexBits) - 1;

// Chunks come from the OS directly and go back to it when empty. Where the OS allows, they are
// left out of core dumps: they hold every key's midstates and secret.
void* map_pages(std::size_t bytes) {
#if defined(_WIN32)
  return VirtualAlloc(nullptr, bytes, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE);
#else
  void* pages = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANON, -1, 0);
  if (pages == MAP_FAILED) return nullptr;
#if defined(MADV_DONTDUMP)
  madvise(pages, bytes, MADV_DONTDUMP);  // best effort: a failure leaves the keys in dumps, as malloc would
#elif defined(MADV_NOCORE)
  madvise(pages, bytes, MADV_NOCORE);
#endif
  return pages;
#endif
}

void unmap_pages(void* pages, std::size_t bytes) {
#if defined(_WIN32)
  (void)bytes;
  VirtualFree(pages, 0, MEM_RELEASE);
#else
  munmap(pages, bytes);
#endif
}

constexpr std::size_t chunk_bytes(std::size_t slot_size) { return KeyArena::kSlotsPerChunk * slot_size; }

void wipe_stored(StoredKey* key) {
  if (key->secret_heap != nullptr) {
    secure_wipe(key->secret_heap, key->secret_length);
    std::free(key->secret_heap);
  }
  secure_wipe(key, sizeof *key);  // also sets secret_heap to nullptr and secret_length to 0
}

}  // namespace

KeyArena::KeyArena(uint64_t mask, uint32_t generation_limit)
    : mask_(mask & (kHandleRange - 1)),
      generation_limit_(generation_limit < kMaxGeneration ? generation_limit : kMaxGeneration) {}

void KeyArena::clear() {
  for (uint32_t c = 0; c < chunk_count_; ++c) {
    Chunk& chunk = chunks_[c];
    if (chunk.slots == nullptr) continue;
    for (uint32_t i = 0; i < kSlotsPerChunk; ++i) {
      if (chunk.slots[i].live) wipe_stored(&chunk.slots[i].key);
    }
    unmap_pages(chunk.slots, chunk_bytes(sizeof(Slot)));
  }
  std::free(chunks_);
  std::free(room_);
  chunks_ = nullptr;
  room_ = nullptr;
  chunk_count_ = chunk_capacity_ = 0;
  spare_ = kEnd;
  live_ = mapped_ = 0;
}

std::size_t KeyArena::mapped_bytes() const { return mapped_ * chunk_bytes(sizeof(Slot)); }

void KeyArena::set_room(uint32_t c, bool room) {
  const uint64_t bit = uint64_t{1} << (c % 64);
  room_[c / 64] = room ? (room_[c / 64] | bit) : (room_[c / 64] & ~bit);
}

bool KeyArena::has_room(uint32_t c) const { return (room_[c / 64] >> (c % 64)) & 1; }

uint32_t KeyArena::lowest_with_room() const {
  for (uint32_t word = 0; word * 64 < chunk_count_; ++word) {
    uint64_t bits = room_[word];
    if (bits == 0) continue;
    uint32_t bit = 0;
    while ((bits & 1) == 0) {
      bits >>= 1;
      ++bit;
    }
    return word * 64 + bit;
  }
  return kEnd;
}

bool KeyArena::grow_table() {
  if (chunk_count_ == kMaxChunks) return false;
  if (chunk_count_ == chunk_capacity_) {
    const uint32_t capacity = chunk_capacity_ == 0 ? 64 : chunk_capacity_ * 2;
    auto* chunks = static_cast<Chunk*>(std::realloc(chunks_, capacity * sizeof(Chunk)));
    if (chunks == nullptr) return false;
    chunks_ = chunks;
    auto* room = static_cast<uint64_t*>(std::realloc(room_, capacity / 64 * sizeof(uint64_t)));
    if (room == nullptr) return false;  // chunks_ is merely larger than needed
    std::memset(room + chunk_capacity_ / 64, 0, (capacity - chunk_capacity_) / 64 * sizeof(uint64_t));
    room_ = room;
    chunk_capacity_ = capacity;
  }
  chunks_[chunk_count_] = Chunk{nullptr, 0, kEnd, 0};
  set_room(chunk_count_, true);
  ++chunk_count_;
  return true;
}

bool KeyArena::map_chunk(uint32_t c) {
  Chunk& chunk = chunks_[c];
  auto* slots = static_cast<Slot*>(map_pages(chunk_bytes(sizeof(Slot))));
  if (slots == nullptr) return false;
  // The pages arrive zeroed: every key empty and not live.
  for (uint32_t i = 0; i < kSlotsPerChunk; ++i) {
    slots[i].generation = chunk.next_floor;
    slots[i].next_free = i + 1 < kSlotsPerChunk ? i + 1 : kEnd;
  }
  chunk.slots = slots;
  chunk.free_head = 0;
  ++mapped_;
  return true;
}

void KeyArena::unmap_chunk(uint32_t c) {
  Chunk& chunk = chunks_[c];
  // Every slot was wiped when its key was removed.
  unmap_pages(chunk.slots, chunk_bytes(sizeof(Slot)));
  chunk.slots = nullptr;
  chunk.free_head = kEnd;
  --mapped_;
  // Mapped again later, its slots start past every generation used in it, so no old handle
  // matches; a chunk whose generations are used up is never mapped again.
  set_room(c, chunk.next_floor <= generation_limit_);
}

void KeyArena::released(uint32_t c) {
  Chunk& chunk = chunks_[c];
  if (chunk.free_head == kEnd) {  // every slot retired: nothing left to reuse
    unmap_chunk(c);
    return;
  }
  if (spare_ == kEnd) {
    spare_ = c;
    return;
  }
  // Two empty chunks: keep the lower one, so that new keys stay at the bottom.
  const uint32_t dropped = c > spare_ ? c : spare_;
  spare_ = c > spare_ ? spare_ : c;
  unmap_chunk(dropped);
}

Handle KeyArena::add(const KeyState& state, const uint8_t* secret, std::size_t secret_len) {
  if (secret_len > UINT32_MAX) return kNoHandle;
  uint8_t* heap = nullptr;
  if (secret_len > kInlineSecretBytes) {
    heap = static_cast<uint8_t*>(std::malloc(secret_len));
    if (heap == nullptr) return kNoHandle;
  }
  uint32_t c = lowest_with_room();
  if (c == kEnd) {
    if (!grow_table()) {
      std::free(heap);
      return kNoHandle;
    }
    c = chunk_count_ - 1;
  }
  Chunk& chunk = chunks_[c];
  if (chunk.slots == nullptr && !map_chunk(c)) {
    std::free(heap);
    return kNoHandle;
  }
  if (c == spare_) spare_ = kEnd;

  const uint32_t i = chunk.free_head;
  Slot& slot = chunk.slots[i];
  chunk.free_head = slot.next_free;
  if (chunk.free_head == kEnd) set_room(c, false);

  std::memcpy(&slot.key.state, &state, sizeof state);
  slot.key.secret_heap = heap;
  slot.key.secret_length = static_cast<uint32_t>(secret_len);
  if (secret_len > 0) std::memcpy(heap != nullptr ? heap : slot.key.secret_inline, secret, secret_len);
  slot.live = true;
  ++chunk.live;
  ++live_;
  const uint64_t index = uint64_t{c} * kSlotsPerChunk + i;
  return ((uint64_t{slot.generation} << kIndexBits) | index) ^ mask_;
}

KeyArena::Slot* KeyArena::locate(Handle handle, uint32_t* chunk_index) {
  if (handle >= kHandleRange) return nullptr;
  const uint64_t raw = handle ^ mask_;
  const uint32_t index = static_cast<uint32_t>(raw) & kIndexMask;
  const uint32_t generation = static_cast<uint32_t>(raw >> kIndexBits);
  const uint32_t c = index / kSlotsPerChunk;
  if (c >= chunk_count_ || chunks_[c].slots == nullptr) return nullptr;
  Slot& slot = chunks_[c].slots[index % kSlotsPerChunk];
  if (!slot.live || slot.generation != generation) return nullptr;
  *chunk_index = c;
  return &slot;
}

StoredKey* KeyArena::find(Handle handle) {
  uint32_t c;
  Slot* slot = locate(handle, &c);
  return slot == nullptr ? nullptr : &slot->key;
}

bool KeyArena::remove(Handle handle) {
  uint32_t c;
  Slot* slot = locate(handle, &c);
  if (slot == nullptr) return false;
  Chunk& chunk = chunks_[c];

  wipe_stored(&slot->key);
  slot->live = false;
  ++slot->generation;
  if (slot->generation > chunk.next_floor) chunk.next_floor = slot->generation;
  if (slot->generation <= generation_limit_) {
    slot->next_free = chunk.free_head;
    chunk.free_head = static_cast<uint32_t>(slot - chunk.slots);
    set_room(c, true);
  }
  --chunk.live;
  --live_;
  if (chunk.live == 0) released(c);
  return true;
}

}  // namespace totp
