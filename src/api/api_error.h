// Discord's JSON error bodies: {code, message, errors?}.
#pragma once

#include <boost/json/object.hpp>
#include <string>

namespace parley {

struct ApiError {
  unsigned status = 400;
  int code = 0;
  std::string message;
  boost::json::object errors;  // empty: left out

  std::string Body() const;

  static ApiError Unauthorized() { return {401, 0, "401: Unauthorized", {}}; }
  static ApiError NotFound() { return {404, 0, "404: Not Found", {}}; }
  static ApiError MethodNotAllowed() { return {405, 0, "405: Method Not Allowed", {}}; }
  static ApiError InvalidJson() {
    return {400, 50109, "The request body contains invalid JSON.", {}};
  }
  static ApiError MissingAccess() { return {403, 50001, "Missing Access", {}}; }
  static ApiError MissingPermissions() { return {403, 50013, "Missing Permissions", {}}; }
  static ApiError Internal() { return {500, 0, "500: Internal Server Error", {}}; }
  static ApiError Overloaded() { return {503, 0, "503: Service Unavailable", {}}; }
  static ApiError UnknownGuild() { return {404, 10004, "Unknown Guild", {}}; }
  static ApiError UnknownChannel() { return {404, 10003, "Unknown Channel", {}}; }
  static ApiError UnknownMessage() { return {404, 10008, "Unknown Message", {}}; }
  static ApiError UnknownInvite() { return {404, 10006, "Unknown Invite", {}}; }
  static ApiError UnknownRole() { return {404, 10011, "Unknown Role", {}}; }
  static ApiError UnknownUser() { return {404, 10013, "Unknown User", {}}; }
  static ApiError UnknownMember() { return {404, 10007, "Unknown Member", {}}; }
  static ApiError UnknownApplication() { return {404, 10002, "Unknown Application", {}}; }
  static ApiError UnknownOverwrite() { return {404, 10009, "Unknown Overwrite", {}}; }
  static ApiError NotAuthor() {
    return {403, 50005, "Cannot edit a message authored by another user", {}};
  }
  static ApiError BotsOnly() { return {403, 20002, "Only bots can use this endpoint", {}}; }
};

// Collects per-field errors for a 400/50035 "Invalid Form Body".
class FormErrors {
 public:
  // `path` is a dotted field path ("username", "messages.0"); "" for an
  // error of the whole form.
  void Add(const std::string& path, const std::string& code, const std::string& message);
  bool empty() const { return errors_.empty(); }
  // How many errors were added so far.
  size_t count() const { return count_; }
  ApiError ToError() const { return {400, 50035, "Invalid Form Body", errors_}; }

 private:
  boost::json::object errors_;
  size_t count_ = 0;
};

}  // namespace parley
