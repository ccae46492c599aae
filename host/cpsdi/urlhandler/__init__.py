"""pyserial URL handlers of cpsdi (``serial.protocol_handler_packages``): ``sim://``."""
