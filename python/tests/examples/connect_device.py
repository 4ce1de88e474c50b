import sys

from herald.compat.connect import Connect  # was: from connect import Connect

name = sys.argv[1]


def receivingMessage(message, source):
    # do something (this function is called from a threadpoolexecutor and wont block the network)
    print("message from", source + ":", message)


def updatingRemotesList(remoteList):
    # this function is called when the list of remote devices has changed. Remote List is a dict which keys are
    # the names of the devices and values are their IP/port
    print("remote devices:", {device: remote.addr for device, remote in sorted(remoteList.items())})


def errorHandling(error):
    # error is the message/question, which lead to a python exception while calling fr or fa
    print("error with:", error)


def answerToQuestion(question, source):
    # do something regarding the question asked by the remote device called source
    if question == "divide by zero":
        return str(1 / 0)
    answer = name + " heard " + question + " from " + source  # provide an appropriated answer
    return answer


# instanciating the network
connect = Connect(fr=receivingMessage, fhu=updatingRemotesList, fe=errorHandling, fa=answerToQuestion, name=name)
