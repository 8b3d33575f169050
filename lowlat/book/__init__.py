"""Order books: order-level (L3) and price-level (L2) books per instrument.

One engine serves every feed, in memory allocated once.

``kernels`` is the compiled engine (hot path); :class:`OrderBooks` the control-plane
handle that allocates it, feeds it batches and reads books, integrity counters, memory
and own-order queue positions; :class:`ReferenceBooks` a plain-Python book with the same
rules, for tests and baselines; ``replay`` writes a book's levels after every message.
"""

from lowlat.book import kernels
from lowlat.book.books import INTEGRITY_FIELDS, OrderBooks, OwnOrder, QueuePosition, TopOfBook
from lowlat.book.config import BookConfig
from lowlat.book.kernels import FLAG_BOOK_START, FLAG_TOP_OF_BOOK
from lowlat.book.layout import BookState
from lowlat.book.reference import ReferenceBook, ReferenceBooks

__all__ = [
    "FLAG_BOOK_START",
    "FLAG_TOP_OF_BOOK",
    "INTEGRITY_FIELDS",
    "BookConfig",
    "BookState",
    "OrderBooks",
    "OwnOrder",
    "QueuePosition",
    "ReferenceBook",
    "ReferenceBooks",
    "TopOfBook",
    "kernels",
]
