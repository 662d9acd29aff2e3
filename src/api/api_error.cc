#include "api/api_error.h"

#include <boost/json/serialize.hpp>

namespace parley {

std::string ApiError::Body() const {
  boost::json::object o;
  o["code"] = code;
  o["message"] = message;
  if (!errors.empty()) o["errors"] = errors;
  return boost::json::serialize(o);
}

void FormErrors::Add(const std::string& path, const std::string& code, const std::string& message) {
  ++count_;
  boost::json::object* node = &errors_;
  if (path.empty()) {  // an error of the whole form: errors._errors
    boost::json::value& list = errors_["_errors"];
    if (!list.is_array()) list = boost::json::array();
    list.as_array().push_back(boost::json::object{{"code", code}, {"message", message}});
    return;
  }
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string key = path.substr(start, dot == std::string::npos ? dot : dot - start);
    boost::json::value& v = (*node)[key];
    if (!v.is_object()) v = boost::json::object();
    node = &v.as_object();
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  boost::json::value& list = (*node)["_errors"];
  if (!list.is_array()) list = boost::json::array();
  list.as_array().push_back(boost::json::object{{"code", code}, {"message", message}});
}

}  // namespace parley
