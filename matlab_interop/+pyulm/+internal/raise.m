function raise(identifier, message)
%RAISE Throw an error with an identifier and a literal message.
%   The message is never used as a format string, so paths with % or \ survive.
error(struct('identifier', identifier, 'message', message));
end
