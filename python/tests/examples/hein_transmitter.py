from herald.compat.hein import SocTransmitter  # was: from hein import SocTransmitter
t = SocTransmitter(port=50007, nreceivermax=2)
