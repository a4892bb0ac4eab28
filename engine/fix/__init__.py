"""FIX 4.4 order routing: the messages (``messages``, encoded and parsed with simplefix), the sequence-number and
sent-message store (``store``) and our initiator session over TCP (``session``)."""
