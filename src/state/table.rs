//! `LruMap`: the one bounded table every stage uses (flows, scan state, SYN state, login state,
//! DNS state, beacon history, alert suppression).
//!
//! * Capacity is fixed when the table is made; slots and index are allocated then and never
//!   again, so RSS cannot follow traffic volume.
//! * Keys are attacker-controlled (addresses, ports, names), so the index uses a hasher seeded
//!   at random per start. Nothing observable depends on that seed: entries live on
//!   recency lists, and eviction and expiry walk those lists, i.e. they choose by packet time,
//!   never by hash order. The same capture therefore gives the same output on every run.
//! * Each entry sits on one of a few *classes* (e.g. "TCP established" vs "UDP"), each with its
//!   own recency list, so expiry with a per-class idle timeout only ever looks at list heads.
//! * When full, `insert` evicts the least recently touched entry over all classes and hands it
//!   back to the caller, which counts it.
//!
//! The index is open addressing with linear probing and backward-shift deletion (no tombstones),
//! sized to at least twice the capacity so probe chains stay short.

const NIL: u32 = u32::MAX;

/// Per-start random seed of the table hashes.
#[derive(Clone, Copy, Debug)]
pub struct Seed([u64; 6]);

/// 64×64→128-bit multiply, halves folded together (the mixing step of foldhash and wyhash).
#[inline]
fn fold_mul(a: u64, b: u64) -> u64 {
    let p = (a as u128) * (b as u128);
    (p as u64) ^ ((p >> 64) as u64)
}

impl Seed {
    /// Fresh random words from the OS (through std's per-process random hasher keys).
    pub fn random() -> Seed {
        use std::hash::{BuildHasher, Hasher};
        let rs = std::collections::hash_map::RandomState::new();
        let mut w = [0u64; 6];
        for (i, x) in w.iter_mut().enumerate() {
            let mut h = rs.build_hasher();
            h.write_usize(i);
            *x = h.finish();
        }
        Seed(w)
    }

    /// Hash of two addresses and two more words: three folded multiplies, every input word
    /// mixed with its own seed word before it meets another, so which keys collide depends on
    /// the seed.
    #[inline]
    pub fn hash(&self, a: u128, b: u128, c: u64, d: u64) -> u64 {
        let s = &self.0;
        let x = fold_mul(a as u64 ^ s[0], (a >> 64) as u64 ^ s[1]);
        let y = fold_mul(b as u64 ^ s[2], (b >> 64) as u64 ^ s[3]);
        fold_mul(x ^ c ^ s[4], y ^ d ^ s[5])
    }

    /// Hash of one address (both halves seeded, then folded once more with a third word, so
    /// the low bits used for the index depend on every input bit).
    #[inline]
    pub fn hash1(&self, a: u128) -> u64 {
        let s = &self.0;
        let x = fold_mul(a as u64 ^ s[0], (a >> 64) as u64 ^ s[1]);
        x ^ (x >> 29).wrapping_mul(s[4] | 1)
    }
}

/// A key of an [`LruMap`]: how it hashes under the table's seed.
pub trait TableKey: Copy + Eq {
    fn hash(&self, seed: &Seed) -> u64;
}

impl TableKey for u32 {
    #[inline]
    fn hash(&self, seed: &Seed) -> u64 {
        seed.hash(0, 0, *self as u64, 0)
    }
}

impl TableKey for u64 {
    #[inline]
    fn hash(&self, seed: &Seed) -> u64 {
        seed.hash(0, 0, *self, 0)
    }
}

/// What `upsert` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upsert {
    Found,
    Inserted,
    /// Inserted in place of the least recently touched entry.
    Evicted,
}

#[derive(Clone, Copy)]
struct IndexEntry {
    slot: u32,
    /// Low 32 bits of the key's hash: its home position (the index is at most 2^31 long) for
    /// backward-shift deletion without touching the slot, and a filter before key compares.
    tag: u32,
}

const EMPTY: IndexEntry = IndexEntry { slot: NIL, tag: 0 };

struct Slot<K, V> {
    key: K,
    value: V,
    hash: u64,
    last: u64,
    prev: u32,
    next: u32,
    class: u8,
}

#[derive(Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
}

/// A fixed-capacity hash map with per-class recency lists. Ids (`u32`) stay valid until the
/// entry is removed or evicted.
pub struct LruMap<K, V> {
    seed: Seed,
    index: Box<[IndexEntry]>,
    mask: usize,
    slots: Vec<Slot<K, V>>,
    free: u32,
    /// The entry `entry` returned last (NIL after it is removed): packets come in trains of
    /// one flow, and a key compare is cheaper than a hash and a probe.
    hot: u32,
    lists: [List; 4],
    classes: u8,
    len: usize,
    cap: usize,
}

impl<K: TableKey, V: Default> LruMap<K, V> {
    /// `capacity` entries (at least 1), `classes` recency lists (1..=4).
    pub fn new(capacity: usize, classes: u8) -> Self {
        let cap = capacity.clamp(1, (u32::MAX / 4) as usize);
        let size = (cap * 2).next_power_of_two();
        LruMap {
            seed: Seed::random(),
            index: vec![EMPTY; size].into_boxed_slice(),
            mask: size - 1,
            slots: Vec::with_capacity(cap),
            free: NIL,
            hot: NIL,
            lists: [List {
                head: NIL,
                tail: NIL,
            }; 4],
            classes: classes.clamp(1, 4),
            len: 0,
            cap,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Bytes this table holds for its whole life (slots + index), for the start-up report.
    pub fn footprint_bytes(&self) -> usize {
        self.cap * std::mem::size_of::<Slot<K, V>>()
            + self.index.len() * std::mem::size_of::<IndexEntry>()
    }

    #[inline]
    fn hash(&self, key: &K) -> u64 {
        key.hash(&self.seed)
    }

    #[inline]
    pub fn find(&self, key: &K) -> Option<u32> {
        let h = self.hash(key);
        self.find_hashed(key, h).map(|(_, slot)| slot)
    }

    #[inline]
    fn find_hashed(&self, key: &K, h: u64) -> Option<(usize, u32)> {
        let tag = h as u32;
        let mut pos = (h as usize) & self.mask;
        loop {
            let e = self.index[pos];
            if e.slot == NIL {
                return None;
            }
            if e.tag == tag && self.slots[e.slot as usize].key == *key {
                return Some((pos, e.slot));
            }
            pos = (pos + 1) & self.mask;
        }
    }

    pub fn get(&self, id: u32) -> &V {
        &self.slots[id as usize].value
    }

    pub fn get_mut(&mut self, id: u32) -> &mut V {
        &mut self.slots[id as usize].value
    }

    pub fn key(&self, id: u32) -> &K {
        &self.slots[id as usize].key
    }

    pub fn class(&self, id: u32) -> u8 {
        self.slots[id as usize].class
    }

    fn unlink(&mut self, id: u32) {
        let (prev, next, class) = {
            let s = &self.slots[id as usize];
            (s.prev, s.next, s.class as usize)
        };
        if prev == NIL {
            self.lists[class].head = next;
        } else {
            self.slots[prev as usize].next = next;
        }
        if next == NIL {
            self.lists[class].tail = prev;
        } else {
            self.slots[next as usize].prev = prev;
        }
    }

    fn push_tail(&mut self, id: u32, class: u8) {
        let c = class.min(self.classes - 1);
        let tail = self.lists[c as usize].tail;
        {
            let s = &mut self.slots[id as usize];
            s.prev = tail;
            s.next = NIL;
            s.class = c;
        }
        if tail == NIL {
            self.lists[c as usize].head = id;
        } else {
            self.slots[tail as usize].next = id;
        }
        self.lists[c as usize].tail = id;
    }

    /// Mark the entry as used at `now` and (re)file it under `class`.
    #[inline]
    pub fn touch(&mut self, id: u32, now: u64, class: u8) {
        let Some(s) = self.slots.get_mut(id as usize) else {
            return;
        };
        // Packet time may step back a little (reordering); recency lists stay ordered.
        s.last = s.last.max(now);
        // Most touches find the entry already the newest of its class.
        if s.next != NIL || s.class != class {
            self.unlink(id);
            self.push_tail(id, class);
        }
    }

    /// Insert `key` with `value` (a present key gets the new value). When the table is full,
    /// the least recently touched entry (over all classes) is evicted first and returned.
    pub fn insert(&mut self, key: K, value: V, class: u8, now: u64) -> (u32, Option<(K, V)>) {
        let mut evicted = None;
        let mut value = Some(value);
        let (id, how) = self.entry(
            key,
            class,
            now,
            |_, k, v| evicted = Some((*k, std::mem::take(v))),
            |v| *v = value.take().unwrap_or_default(),
        );
        if how == Upsert::Found {
            // Present after all: the new value replaces the old one.
            *self.get_mut(id) = value.take().unwrap_or_default();
            self.touch(id, now, class);
        }
        (id, evicted)
    }

    /// Put a filled slot into the index and at the tail of its recency list.
    fn link(&mut self, id: u32, h: u64, class: u8) {
        let tag = h as u32;
        let mut pos = (h as usize) & self.mask;
        while self.index[pos].slot != NIL {
            pos = (pos + 1) & self.mask;
        }
        self.index[pos] = IndexEntry { slot: id, tag };
        self.len += 1;
        self.push_tail(id, class);
    }

    /// Take an entry out of the index and its recency list (its slot is left to the caller).
    fn unindex(&mut self, id: u32) {
        if self.hot == id {
            self.hot = NIL;
        }
        let h = self.slots[id as usize].hash;
        let mut pos = (h as usize) & self.mask;
        while self.index[pos].slot != id {
            pos = (pos + 1) & self.mask;
        }
        // Backward-shift deletion keeps every probe chain unbroken without tombstones.
        let mut hole = pos;
        let mut next = (hole + 1) & self.mask;
        loop {
            let e = self.index[next];
            if e.slot == NIL {
                break;
            }
            let home = (e.tag as usize) & self.mask;
            // Move `e` into the hole if its home is not cyclically within (hole, next].
            let dist_next = next.wrapping_sub(home) & self.mask;
            let dist_hole = hole.wrapping_sub(home) & self.mask;
            if dist_hole < dist_next {
                self.index[hole] = e;
                hole = next;
            }
            next = (next + 1) & self.mask;
        }
        self.index[hole] = EMPTY;
        self.unlink(id);
        self.len -= 1;
    }

    /// Remove an entry by id; returns its key and value.
    pub fn remove(&mut self, id: u32) -> (K, V) {
        self.unindex(id);
        let s = &mut self.slots[id as usize];
        let value = std::mem::take(&mut s.value);
        let key = s.key;
        s.next = self.free;
        s.prev = NIL;
        self.free = id;
        (key, value)
    }

    /// Find `key` and touch it, or insert it — evicting the least recently touched entry when
    /// full — and let `init` set up its value in place. Values are never moved, so large
    /// detector states cost nothing to evict. Returns the id and what happened.
    #[inline]
    pub fn upsert(
        &mut self,
        key: K,
        class: u8,
        now: u64,
        init: impl FnOnce(&mut V),
    ) -> (u32, Upsert) {
        let (id, how) = self.entry(key, class, now, |_, _, _| {}, init);
        if how == Upsert::Found {
            self.touch(id, now, class);
        }
        (id, how)
    }

    /// Find `key` (not touched: the caller does that once it knows the class), or insert it
    /// with one hash — evicting the least recently touched entry when full, which `evicted`
    /// sees (and may take) before its slot is reused — and let `init` set up the new value
    /// in place.
    #[inline]
    pub fn entry(
        &mut self,
        key: K,
        class: u8,
        now: u64,
        evicted: impl FnOnce(u32, &K, &mut V),
        init: impl FnOnce(&mut V),
    ) -> (u32, Upsert) {
        if let Some(s) = self.slots.get(self.hot as usize) {
            if s.key == key {
                return (self.hot, Upsert::Found);
            }
        }
        self.entry_hashed(key, class, now, evicted, init)
    }

    /// [`LruMap::entry`] for a caller that already compared the key with the last entry
    /// returned ([`LruMap::hot_entry`]): straight to the hash and the index.
    #[inline]
    pub fn entry_hashed(
        &mut self,
        key: K,
        class: u8,
        now: u64,
        evicted: impl FnOnce(u32, &K, &mut V),
        init: impl FnOnce(&mut V),
    ) -> (u32, Upsert) {
        let h = self.hash(&key);
        if let Some((_, id)) = self.find_hashed(&key, h) {
            self.hot = id;
            return (id, Upsert::Found);
        }
        let victim = if self.len >= self.cap {
            self.oldest_overall()
        } else {
            None
        };
        let (id, how) = match victim {
            Some(victim) => {
                self.unindex(victim);
                let s = &mut self.slots[victim as usize];
                evicted(victim, &s.key, &mut s.value);
                (victim, Upsert::Evicted)
            }
            None if self.free != NIL => {
                let id = self.free;
                self.free = self.slots[id as usize].next;
                (id, Upsert::Inserted)
            }
            None => {
                // Never past the capacity reserved in `new`, so this never reallocates.
                self.slots.push(Slot {
                    key,
                    value: V::default(),
                    hash: h,
                    last: now,
                    prev: NIL,
                    next: NIL,
                    class: 0,
                });
                ((self.slots.len() - 1) as u32, Upsert::Inserted)
            }
        };
        {
            let s = &mut self.slots[id as usize];
            s.key = key;
            s.hash = h;
            s.last = now;
            init(&mut s.value);
        }
        self.link(id, h, class);
        self.hot = id;
        (id, how)
    }

    /// Whether `id` is the entry `entry` returned last (and still in the table): one compare.
    #[inline]
    pub fn is_hot(&self, id: u32) -> bool {
        self.hot == id && id != NIL
    }

    /// The entry `entry` returned last, while it is still in the table.
    #[inline]
    pub fn hot_entry(&self) -> Option<(u32, &K)> {
        self.slots
            .get(self.hot as usize)
            .map(|s| (self.hot, &s.key))
    }

    /// Least recently touched entry of one class.
    pub fn oldest(&self, class: u8) -> Option<u32> {
        let h = self.lists.get(class as usize)?.head;
        (h != NIL).then_some(h)
    }

    fn oldest_overall(&self) -> Option<u32> {
        let mut best: Option<u32> = None;
        for c in 0..self.classes {
            if let Some(id) = self.oldest(c) {
                match best {
                    Some(b) if self.slots[b as usize].last <= self.slots[id as usize].last => {}
                    _ => best = Some(id),
                }
            }
        }
        best
    }

    /// Remove and return the oldest entry of `class` if it was last touched at or before
    /// `deadline`. Call in a loop to expire a class.
    pub fn pop_expired(&mut self, class: u8, deadline: u64) -> Option<(u32, K, V)> {
        let id = self.oldest(class)?;
        if self.slots[id as usize].last <= deadline {
            let (k, v) = self.remove(id);
            Some((id, k, v))
        } else {
            None
        }
    }

    /// The entry touched after `id` in its class (for walks that change values on the way).
    pub fn newer(&self, id: u32) -> Option<u32> {
        let n = self.slots.get(id as usize)?.next;
        (n != NIL).then_some(n)
    }

    /// Ids of one class from oldest to newest.
    pub fn iter_class(&self, class: u8) -> impl Iterator<Item = u32> + '_ {
        let mut cur = self.oldest(class).unwrap_or(NIL);
        std::iter::from_fn(move || {
            if cur == NIL {
                return None;
            }
            let id = cur;
            cur = self.slots[id as usize].next;
            Some(id)
        })
    }

    /// Remove every entry (used at shutdown flush), class by class, oldest first. The table
    /// is emptied as a whole afterwards (no per-entry unlinking); its memory stays reserved.
    pub fn drain_all(&mut self, mut f: impl FnMut(u32, K, V)) {
        for c in 0..self.classes as usize {
            let mut cur = self.lists[c].head;
            while let Some(s) = self.slots.get_mut(cur as usize) {
                let next = s.next;
                f(cur, s.key, std::mem::take(&mut s.value));
                cur = next;
            }
        }
        self.index.fill(EMPTY);
        self.slots.clear();
        self.free = NIL;
        self.hot = NIL;
        self.lists = [List {
            head: NIL,
            tail: NIL,
        }; 4];
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_find_remove_and_evict_lru() {
        let mut m: LruMap<u32, u32> = LruMap::new(3, 2);
        let (a, e) = m.insert(1, 10, 0, 1);
        assert!(e.is_none());
        m.insert(2, 20, 1, 2);
        m.insert(3, 30, 0, 3);
        m.touch(a, 4, 0); // 1 is now the newest
        let (_, ev) = m.insert(4, 40, 0, 5);
        assert_eq!(
            ev,
            Some((2, 20)),
            "least recently touched over all classes goes"
        );
        assert!(m.find(&2).is_none());
        assert_eq!(*m.get(m.find(&1).unwrap()), 10);
        assert_eq!(m.len(), 3);
        let id3 = m.find(&3).unwrap();
        assert_eq!(m.pop_expired(0, 3), Some((id3, 3, 30)));
        assert_eq!(m.pop_expired(0, 3), None);
    }

    #[test]
    fn upsert_reuses_the_evicted_slot_in_place() {
        let mut m: LruMap<u32, Vec<u32>> = LruMap::new(2, 1);
        assert_eq!(m.upsert(1, 0, 1, |v| v.push(1)).1, Upsert::Inserted);
        assert_eq!(m.upsert(2, 0, 2, |v| v.push(2)).1, Upsert::Inserted);
        assert_eq!(m.upsert(1, 0, 3, |_| unreachable!()).1, Upsert::Found);
        let (id, how) = m.upsert(3, 0, 4, |v| v.clear());
        assert_eq!(how, Upsert::Evicted);
        assert!(m.find(&2).is_none(), "2 was least recently touched");
        assert!(m.get(id).is_empty());
        assert_eq!(m.get(m.find(&1).unwrap()), &vec![1]);
    }

    #[test]
    fn the_last_entry_shortcut_forgets_removed_entries() {
        let mut m: LruMap<u32, u32> = LruMap::new(2, 1);
        let (a, how) = m.entry(7, 0, 1, |_, _, _| {}, |v| *v = 70);
        assert_eq!(how, Upsert::Inserted);
        assert_eq!(
            m.entry(7, 0, 2, |_, _, _| unreachable!(), |_| unreachable!()),
            (a, Upsert::Found)
        );
        m.remove(a);
        assert_eq!(
            m.entry(7, 0, 3, |_, _, _| {}, |v| *v = 71).1,
            Upsert::Inserted
        );
        // Evicted by a newer key: the old key is not found in its reused slot.
        m.entry(8, 0, 4, |_, _, _| {}, |v| *v = 80);
        let mut gone = None;
        let (id9, _) = m.entry(9, 0, 5, |id, k, v| gone = Some((id, *k, *v)), |v| *v = 90);
        assert_eq!(
            gone,
            Some((id9, 7, 71)),
            "the evicted entry and the slot it leaves"
        );
        assert_eq!(
            m.entry(7, 0, 6, |_, _, _| {}, |v| *v = 72).1,
            Upsert::Evicted
        );
        assert_eq!(*m.get(m.find(&7).unwrap()), 72);
    }

    #[test]
    fn drain_all_hands_out_every_entry_oldest_first_and_leaves_a_usable_table() {
        let mut m: LruMap<u32, Vec<u32>> = LruMap::new(4, 2);
        m.upsert(1, 1, 1, |v| v.push(10));
        m.upsert(2, 0, 2, |v| v.push(20));
        m.upsert(3, 1, 3, |v| v.push(30));
        m.upsert(4, 0, 4, |v| v.push(40));
        m.upsert(1, 1, 5, |_| unreachable!()); // 1 is now the newest of class 1
        let id2 = m.find(&2).unwrap();
        m.remove(id2); // a free slot at drain time
        let mut seen = Vec::new();
        m.drain_all(|_, k, v| seen.push((k, v)));
        assert_eq!(seen, vec![(4, vec![40]), (3, vec![30]), (1, vec![10])]);
        assert!(m.is_empty());
        assert!(m.find(&1).is_none() && m.hot_entry().is_none());
        // Filled again to capacity and beyond: inserts, lookups and eviction as before (an
        // evicted entry's value is handed to `init` as it was).
        for k in 10..16u32 {
            m.upsert(k, (k % 2) as u8, k as u64, |v| *v = vec![k]);
        }
        assert_eq!(m.len(), 4);
        for k in 12..16u32 {
            assert_eq!(m.get(m.find(&k).unwrap()), &vec![k]);
        }
        assert!(m.find(&10).is_none() && m.find(&11).is_none());
    }

    #[test]
    fn heavy_churn_keeps_index_consistent() {
        let mut m: LruMap<u64, u64> = LruMap::new(1000, 1);
        for i in 0..200_000u64 {
            let k = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 5000;
            match m.find(&k) {
                Some(id) => {
                    assert_eq!(*m.get(id), k * 3);
                    if i % 7 == 0 {
                        m.remove(id);
                    } else {
                        m.touch(id, i, 0);
                    }
                }
                None => {
                    m.insert(k, k * 3, 0, i);
                }
            }
            assert!(m.len() <= 1000);
        }
        // Every listed entry is findable.
        let ids: Vec<u32> = m.iter_class(0).collect();
        assert_eq!(ids.len(), m.len());
        for id in ids {
            assert_eq!(m.find(m.key(id)), Some(id));
        }
    }
}
