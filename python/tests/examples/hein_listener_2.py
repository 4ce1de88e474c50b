from herald.compat.hein import SocReceiver  # was: from hein import SocReceiver
r = SocReceiver(port=50007, name="Kirk")
