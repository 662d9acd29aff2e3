// The one translation unit that compiles Boost.Asio, Beast, JSON and URL
// (separate compilation): every other file includes their headers only.
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
#include <boost/json/src.hpp>
#include <boost/url/src.hpp>
