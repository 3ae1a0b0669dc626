"""One RocksDB memory budget for the whole worker, whatever the partitions it holds.

faust opens one database per table partition, each with a block cache and write buffers
of its own: two tables of four partitions at 8 MiB of cache and two 8 MiB write buffers
each could hold 192 MiB, and more partitions meant more.  As in Kafka Streams' bounded
memory config, every database of a worker shares one block cache, which also holds the
index and filter blocks (otherwise outside any bound, growing with the state), and one
write buffer manager that charges the write buffers to that cache and flushes the
largest once they pass half of it.
"""

from __future__ import annotations

from functools import cached_property

import rocksdict
from faust.stores.rocksdb import RocksDBOptions

MIB = 1024 * 1024


class SharedMemory:
    """The block cache and write buffer manager shared by a worker's databases."""

    def __init__(self, total_bytes: int) -> None:
        self.total_bytes = total_bytes

    @cached_property
    def cache(self) -> rocksdict.Cache:
        return rocksdict.Cache(self.total_bytes)

    @cached_property
    def write_buffers(self) -> rocksdict.WriteBufferManager:
        return rocksdict.WriteBufferManager.new_write_buffer_manager_with_cache(
            self.total_bytes // 2, False, self.cache
        )


class SharedMemoryOptions(RocksDBOptions):
    """faust's options for opening a table partition's database, drawing on ``memory``."""

    def __init__(self, options: RocksDBOptions, memory: SharedMemory) -> None:
        """The settings of faust's ``options`` (set as instance attributes), and ``memory``."""
        super().__init__()
        self.__dict__.update(vars(options))
        self.memory = memory

    def as_options(self) -> rocksdict.Options:
        if not self.use_rocksdict:
            raise RuntimeError("a shared RocksDB memory budget needs the rocksdict driver")
        options: rocksdict.Options = super().as_options()
        table = rocksdict.BlockBasedOptions()
        table.set_bloom_filter(self.bloom_filter_size, True)
        table.set_block_cache(self.memory.cache)
        table.set_cache_index_and_filter_blocks(True)
        table.set_pin_l0_filter_and_index_blocks_in_cache(True)
        table.set_index_type(rocksdict.BlockBasedIndexType.binary_search())
        options.set_block_based_table_factory(table)
        options.set_write_buffer_manager(self.memory.write_buffers)
        return options
