// Package fuzz holds fuzz targets that span several packages (wire format
// through store, gateways through DHT). Targets that exercise one package
// live next to it: impl/store (store against model, on-disk records) and
// impl/dht (placemarks).
package fuzz
