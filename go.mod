module github.com/opendht-go/opendht

go 1.26
